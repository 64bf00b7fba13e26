// A raw UDP client bound to 127.0.0.1: sends enet datagrams (or raw bytes), collects replies.
import dgram from 'node:dgram'
import { EventEmitter } from 'node:events'
import { enetDatagram, toBuffer, type DatagramCodec } from '../../core/wire/codec.ts'
import type { Payload } from '../../core/types.ts'
import type { Frame } from './frames.ts'

export class UdpClient extends EventEmitter {
  readonly frames: Frame[] = []
  /** Datagrams the codec could not decode. */
  readonly bad: Buffer[] = []

  private constructor(
    readonly socket: dgram.Socket,
    readonly port: number,
    private readonly codec: DatagramCodec,
  ) {
    super()
    const out = { msgId: 0, data: Buffer.alloc(0) }
    socket.on('message', (msg) => {
      if (msg.length >= codec.headerSize && codec.decode(msg, out)) {
        const data = Buffer.from(out.data)
        this.frames.push({ msgId: out.msgId, data, text: data.toString('utf8') })
      } else {
        this.bad.push(msg)
      }
      this.emit('change')
    })
  }

  /** A client socket on `local` (127.0.0.1, or another loopback address as another source; random port) talking to 127.0.0.1:`port`. */
  static async open(port: number, codec: DatagramCodec = enetDatagram, local = '127.0.0.1'): Promise<UdpClient> {
    const socket = dgram.createSocket('udp4')
    await new Promise<void>((resolve) => socket.bind(0, local, resolve))
    return new UdpClient(socket, port, codec)
  }

  get localPort(): number {
    return this.socket.address().port
  }

  sendRaw(bytes: Buffer): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, this.port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
  }

  send(msgId: number, data?: Payload): Promise<void> {
    return this.sendRaw(this.codec.encode(msgId, toBuffer(data)))
  }

  waitFrames(n: number, timeoutMs = 2_000): Promise<Frame[]> {
    if (this.frames.length >= n) return Promise.resolve(this.frames)
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.frames.length < n) return
        cleanup()
        resolve(this.frames)
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`UdpClient: timed out after ${timeoutMs} ms waiting for ${n} datagrams; got ${this.frames.length}`))
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        this.off('change', check)
      }
      this.on('change', check)
    })
  }

  async request(msgId: number, data?: Payload, timeoutMs = 2_000): Promise<Frame> {
    const n = this.frames.length
    await this.send(msgId, data)
    await this.waitFrames(n + 1, timeoutMs)
    return this.frames[n]!
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()))
  }
}
