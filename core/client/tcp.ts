// TCP and TLS client: a stream decoded frame by frame.
import { createRequire } from 'node:module'
import net from 'node:net'
import type tls from 'node:tls'
import type { FrameCodec } from '../wire/codec.ts'
import type { ClientOptions } from './base.ts'
import { StreamClient } from './stream.ts'

/** How long close() lets queued bytes drain to a server that is not reading before it drops them. */
const CLOSE_FLUSH_MS = 2_000

// node:tls is loaded by the first tls:// connect: a server imports the client
// through core/index.ts, and tls cost it 0.5 MiB of heap before any connection.
const require = createRequire(import.meta.url)

export class TcpClient extends StreamClient {
  private socket: net.Socket | null = null
  private readonly tls: tls.ConnectionOptions | null

  constructor(
    url: string,
    host: string,
    port: number,
    codec: FrameCodec,
    opts: ClientOptions,
    readonly protocol: 'tcp' | 'tls' = 'tcp',
  ) {
    super(url, host, port, codec, opts)
    this.tls = protocol === 'tls' ? { ...opts.tls } : null
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

  protected get unsent(): number {
    return this.socket?.writableLength ?? 0
  }

  protected write(frame: Buffer): void {
    this.socket!.write(frame)
  }

  protected shutdown(): Promise<void> {
    this.stopDialing()
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

  protected open(): void {
    const s = this.tls ? (require('node:tls') as typeof tls).connect({ ...this.tls, host: this.host, port: this.port }) : net.connect({ host: this.host, port: this.port })
    s.setNoDelay(true)
    // A TLS socket is connected for us once its handshake is done.
    s.on(this.tls ? 'secureConnect' : 'connect', this.onConnect)
    s.on('data', this.onData)
    s.on('error', this.onError)
    s.on('close', this.onClose)
    this.socket = s
  }

  private readonly onConnect = (): void => this.wentUp()

  private readonly onData = (chunk: Buffer): void => {
    const d = this.decoder!
    d.push(chunk)
    for (;;) {
      let more: boolean
      try {
        more = d.next()
      } catch (err) {
        this.decodeFailed(err)
        this.socket?.destroy(err as Error)
        return
      }
      if (!more) return
      this.received(d.msgId, d.data)
      if (this.ended) return
    }
  }

  private readonly onError = (err: Error): void => this.failed(err)

  private readonly onClose = (): void => {
    this.socket = null
    this.wentDown()
  }
}
