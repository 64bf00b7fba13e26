// TCP client: a stream decoded frame by frame, reconnecting with backoff and jitter.
import net from 'node:net'
import type { FrameCodec, FrameDecoder } from '../wire/codec.ts'
import { EnetError } from '../errors.ts'
import type { CloseReason } from '../types.ts'
import { Client, type ClientOptions, type ReconnectOptions } from './base.ts'

/** How long close() lets queued bytes drain to a server that is not reading before it drops them. */
const CLOSE_FLUSH_MS = 2_000

export class TcpClient extends Client {
  readonly protocol = 'tcp'
  private socket: net.Socket | null = null
  private decoder: FrameDecoder | null = null
  private downReason: CloseReason = 'peer-closed'
  private lastError: Error | null = null
  private timer: NodeJS.Timeout | null = null
  private attempt = 0
  /** When the current connection came up (performance.now()). */
  private upSince = 0
  /** 'connect' fired for the current socket; `connected` drops earlier, at a decode error. */
  private up = false
  private readonly backoff: Required<ReconnectOptions> | null

  constructor(
    url: string,
    host: string,
    port: number,
    private readonly codec: FrameCodec,
    opts: ClientOptions,
  ) {
    super(url, host, port, opts)
    const r = opts.reconnect ?? true
    this.backoff = r === false ? null : { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5, stableMs: 1000, ...(r === true ? {} : r) }
    this.dial()
  }

  get localPort(): number | undefined {
    return this.socket?.localPort
  }

  protected override get endpoints() {
    const s = this.socket
    return {
      local: { address: s?.localAddress ?? '0.0.0.0', port: s?.localPort ?? 0 },
      remote: { address: s?.remoteAddress ?? this.host, port: s?.remotePort ?? this.port },
    }
  }

  protected encode(msgId: number, data: Buffer): Buffer {
    return this.codec.encode(msgId, data)
  }

  protected get unsent(): number {
    return this.socket?.writableLength ?? 0
  }

  protected write(frame: Buffer): void {
    this.socket!.write(frame)
  }

  protected shutdown(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const s = this.socket
    if (!s) return Promise.resolve()
    return new Promise((resolve) => {
      // end() flushes what send() queued; destroying after the flush keeps
      // close() prompt even if the server never closes its side, and the
      // deadline keeps it prompt if the server stopped reading.
      const deadline = setTimeout(() => s.destroy(), CLOSE_FLUSH_MS)
      deadline.unref()
      s.once('close', () => {
        clearTimeout(deadline)
        resolve()
      })
      if (this.up && !s.destroyed) s.end(() => s.destroy())
      else s.destroy()
    })
  }

  private readonly dial = (): void => {
    this.timer = null
    this.downReason = 'peer-closed'
    this.lastError = null
    this.decoder = this.codec.createDecoder(this.maxPacketSize)
    const s = net.connect({ host: this.host, port: this.port })
    s.setNoDelay(true)
    s.on('connect', this.onConnect)
    s.on('data', this.onData)
    s.on('error', this.onError)
    s.on('close', this.onClose)
    this.socket = s
  }

  private readonly onConnect = (): void => {
    this.upSince = performance.now()
    this.up = true
    this.opened()
  }

  private readonly onData = (chunk: Buffer): void => {
    const d = this.decoder!
    d.push(chunk)
    for (;;) {
      let more: boolean
      try {
        more = d.next()
      } catch (err) {
        const code = (err as EnetError).code
        this.downReason = code === 'ENET_ERR_FRAME_TOO_LARGE' ? 'frame-too-large' : 'bad-frame'
        // Sends from now until the reconnect are queued, not written to a dying socket.
        this.connected = false
        this.socket?.destroy(err as Error)
        return
      }
      if (!more) return
      this.received(d.msgId, d.data)
      if (this.ended) return
    }
  }

  private readonly onError = (err: Error): void => {
    if (this.downReason === 'peer-closed') this.downReason = 'peer-error'
    this.lastError = err
    this.report(err)
  }

  private readonly onClose = (): void => {
    const wasUp = this.up
    this.up = false
    this.connected = false
    this.socket = null
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
