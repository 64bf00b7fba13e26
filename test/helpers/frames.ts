// A raw TCP client: a net.Socket plus the codec's streaming decoder, collecting frames.
import { EventEmitter } from 'node:events'
import net from 'node:net'
import { tlvBE, toBuffer, type FrameCodec } from '../../core/wire/codec.ts'
import type { Payload } from '../../core/types.ts'

export interface Frame {
  msgId: number
  data: Buffer
  text: string
}

export interface FrameClientOptions {
  host?: string
  /** Bind the client side to this address (a second loopback IP, say). */
  localAddress?: string
  codec?: FrameCodec
  /** Largest frame this client accepts. */
  maxPacketSize?: number
}

export class FrameClient extends EventEmitter {
  readonly frames: Frame[] = []
  closed = false
  error: Error | undefined
  /** Resolves when the socket has closed, for whatever reason. */
  readonly done: Promise<void>
  private readonly codec: FrameCodec

  private constructor(
    readonly socket: net.Socket,
    opts: FrameClientOptions,
  ) {
    super()
    this.codec = opts.codec ?? tlvBE
    const decoder = this.codec.createDecoder(opts.maxPacketSize ?? 1 << 20)
    socket.on('data', (chunk) => {
      decoder.push(chunk)
      while (decoder.next()) {
        const data = Buffer.from(decoder.data)
        this.frames.push({ msgId: decoder.msgId, data, text: data.toString('utf8') })
      }
      this.emit('change')
    })
    socket.on('error', (err) => (this.error = err))
    this.done = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true
        this.emit('change')
        resolve()
      }),
    )
  }

  /** Connect; resolves once the TCP handshake completed (the server may still refuse and close). */
  static connect(port: number, opts: FrameClientOptions = {}): Promise<FrameClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress })
      const client = new FrameClient(socket, opts)
      socket.once('connect', () => {
        socket.off('error', reject)
        resolve(client)
      })
      socket.once('error', reject)
    })
  }

  encode(msgId: number, data?: Payload): Buffer {
    return this.codec.encode(msgId, toBuffer(data))
  }

  send(msgId: number, data?: Payload): void {
    this.socket.write(this.encode(msgId, data))
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes)
  }

  /** Resolves when `cond` holds, re-checked on every frame and on close. */
  waitUntil(cond: () => boolean, timeoutMs = 2_000, what = 'condition'): Promise<void> {
    if (cond()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!cond()) return
        cleanup()
        resolve()
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`FrameClient: timed out after ${timeoutMs} ms waiting for ${what}; got ${this.frames.length} frames, closed=${this.closed}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.off('change', check)
      }
      this.on('change', check)
    })
  }

  /** Wait for at least `n` frames in total; returns all frames so far. */
  async waitFrames(n: number, timeoutMs = 2_000): Promise<Frame[]> {
    await this.waitUntil(() => this.frames.length >= n, timeoutMs, `${n} frames`)
    return this.frames
  }

  /** Send and wait for the next frame. */
  async request(msgId: number, data?: Payload, timeoutMs = 2_000): Promise<Frame> {
    const n = this.frames.length
    this.send(msgId, data)
    await this.waitFrames(n + 1, timeoutMs)
    return this.frames[n]!
  }

  waitClosed(timeoutMs = 2_000): Promise<void> {
    return this.waitUntil(() => this.closed, timeoutMs, 'close')
  }

  close(): void {
    this.socket.destroy()
  }
}
