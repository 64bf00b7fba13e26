// What the connection clients share (TCP, TLS, WebSocket): reconnecting with
// backoff and jitter, and failing the requests a lost connection carried.
import type { FrameCodec, FrameDecoder } from '../wire/codec.ts'
import { EnetError } from '../errors.ts'
import type { CloseReason } from '../types.ts'
import { Client, type ClientOptions, type ReconnectOptions } from './base.ts'

export abstract class StreamClient extends Client {
  abstract override readonly protocol: 'tcp' | 'tls' | 'ws'
  protected decoder: FrameDecoder | null = null
  protected downReason: CloseReason = 'peer-closed'
  private lastError: Error | null = null
  private timer: NodeJS.Timeout | null = null
  private attempt = 0
  /** When the current connection came up (performance.now()). */
  private upSince = 0
  /** The current connection opened; `connected` drops earlier, at a decode error. */
  protected up = false
  private readonly backoff: Required<ReconnectOptions> | null

  constructor(
    url: string,
    host: string,
    port: number,
    protected readonly codec: FrameCodec,
    opts: ClientOptions,
  ) {
    super(url, host, port, opts)
    const r = opts.reconnect ?? true
    this.backoff = r === false ? null : { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5, stableMs: 1000, ...(r === true ? {} : r) }
  }

  protected encode(msgId: number, data: Buffer): Buffer {
    return this.codec.encode(msgId, data)
  }

  /** Open one connection; it reports back through up(), down(), failed() and decodeFailed(). */
  protected abstract open(): void

  protected readonly dial = (): void => {
    this.timer = null
    this.downReason = 'peer-closed'
    this.lastError = null
    this.decoder = this.codec.createDecoder(this.maxPacketSize)
    this.open()
  }

  protected stopDialing(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  protected wentUp(): void {
    this.upSince = performance.now()
    this.up = true
    this.opened()
  }

  /** The server sent what the codec refuses: this connection ends; the caller drops it. */
  protected decodeFailed(err: unknown): void {
    const code = (err as EnetError).code
    this.downReason = code === 'ENET_ERR_FRAME_TOO_LARGE' ? 'frame-too-large' : 'bad-frame'
    // Sends from now until the reconnect are queued, not written to a dying connection.
    this.connected = false
  }

  protected failed(err: Error): void {
    if (this.downReason === 'peer-closed') this.downReason = 'peer-error'
    this.lastError = err
    this.report(err)
  }

  protected wentDown(): void {
    const wasUp = this.up
    this.up = false
    this.connected = false
    this.decoder = null
    if (wasUp) this.emit('disconnect', this.ended ? 'client-close' : this.downReason)
    if (this.ended) return
    if (wasUp) this.failWritten(new EnetError('ENET_ERR_NOT_CONNECTED', [`${this.url} (connection lost before the reply)`]))
    if (this.backoff) {
      const b = this.backoff
      if (wasUp && performance.now() - this.upSince >= b.stableMs) this.attempt = 0
      const base = Math.min(b.maxMs, b.initialMs * b.factor ** this.attempt++)
      const delay = Math.min(b.maxMs, base * (1 - b.jitter + Math.random() * 2 * b.jitter))
      this.timer = setTimeout(this.dial, delay)
      return
    }
    const why = this.lastError ? `${this.url} (${this.lastError.message})` : this.url
    this.ended = new EnetError('ENET_ERR_NOT_CONNECTED', [why], { cause: this.lastError ?? undefined })
    this.fail(this.ended)
  }
}
