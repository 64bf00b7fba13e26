// WebSocket client (the `ws` package): each frame travels as one binary message.
import { createRequire } from 'node:module'
import type WebSocket from 'ws'
import type { FrameCodec } from '../wire/codec.ts'
import { EnetError } from '../errors.ts'
import type { ClientOptions } from './base.ts'
import { StreamClient } from './stream.ts'

/** How long close() waits for the server's close frame before it drops the socket. */
const CLOSE_GRACE_MS = 2_000
/** Room for the codec's header above maxPacketSize in ws's payload bound. */
const HEADER_ROOM = 64

// Loaded by the first ws:// connect: every server imports the client through
// core/index.ts, and importing `ws` there cost an idle server 5 MiB of RSS
// (bench/ accept: 64 -> 58 MiB; Node's CommonJS export scan of ws alone was
// hot enough to be compiled by TurboFan at startup).
const require = createRequire(import.meta.url)
let WebSocketClass: typeof WebSocket | undefined

export class WsClient extends StreamClient {
  readonly protocol = 'ws'
  private ws: WebSocket | null = null
  /** The upgraded socket's ends, for a heartbeat answer's text. */
  private ends: { local: { address: string; port: number }; remote: { address: string; port: number } } | undefined = undefined
  /** The close code and reason the server gave, for the 'disconnect' reason. */
  closeCode: number | undefined = undefined

  constructor(
    url: string,
    host: string,
    port: number,
    codec: FrameCodec,
    private readonly opts: ClientOptions,
  ) {
    super(url, host, port, codec, opts)
    this.dial()
  }

  get localPort(): number | undefined {
    return this.ws ? this.ends?.local.port : undefined
  }

  protected override get endpoints() {
    return this.ends ?? { local: { address: '0.0.0.0', port: 0 }, remote: { address: this.host, port: this.port } }
  }

  protected get unsent(): number {
    return this.ws?.bufferedAmount ?? 0
  }

  protected write(frame: Buffer): void {
    this.ws!.send(frame, { binary: true })
  }

  protected open(): void {
    WebSocketClass ??= require('ws') as typeof WebSocket
    const ws = new WebSocketClass(this.url, { perMessageDeflate: false, maxPayload: this.maxPacketSize + HEADER_ROOM, ...this.opts.tls })
    ws.binaryType = 'nodebuffer'
    ws.on('upgrade', (res) => {
      const s = res.socket
      this.ends = { local: { address: s.localAddress ?? '0.0.0.0', port: s.localPort ?? 0 }, remote: { address: s.remoteAddress ?? this.host, port: s.remotePort ?? this.port } }
    })
    ws.on('open', () => this.wentUp())
    ws.on('message', (data: Buffer, isBinary: boolean) => this.message(data, isBinary))
    ws.on('error', (err) => this.failed(err))
    ws.on('close', (code) => {
      this.closeCode = code
      this.ws = null
      this.wentDown()
    })
    this.ws = ws
  }

  private message(data: Buffer, isBinary: boolean): void {
    const d = this.decoder
    if (d === null) return
    try {
      if (!isBinary) throw new EnetError('ENET_ERR_BAD_FRAME', ['a text WebSocket message; the server sends binary frames'])
      d.push(data)
      if (!d.next() || d.pending !== 0) throw new EnetError('ENET_ERR_BAD_FRAME', [`a WebSocket message must hold exactly one whole frame, got ${data.length} bytes`])
    } catch (err) {
      this.decodeFailed(err)
      this.report(err as Error)
      this.ws?.terminate()
      return
    }
    this.received(d.msgId, d.data)
  }

  protected shutdown(): Promise<void> {
    this.stopDialing()
    const ws = this.ws
    if (!ws) return Promise.resolve()
    return new Promise((resolve) => {
      const deadline = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS)
      deadline.unref()
      ws.once('close', () => {
        clearTimeout(deadline)
        resolve()
      })
      // Queued messages leave before the close frame.
      if (ws.readyState === ws.OPEN) ws.close(1000, 'client-close')
      else ws.terminate()
    })
  }
}
