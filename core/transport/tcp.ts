// TCP: one Connection per socket. Frames are decoded as bytes arrive; when a
// connection has maxInflightPerConn requests queued or running, reading stops
// (socket.pause) and the undecoded bytes wait in the decoder.
import net from 'node:net'
import { toBuffer, type FrameCodec, type FrameDecoder } from '../wire/codec.ts'
import { BaseConnection } from '../engine/connection.ts'
import { EnetError, describe } from '../errors.ts'
import type { EnetConfig } from '../config.ts'
import type { CloseReason, Payload } from '../types.ts'
import { OUTBOUND_CHECK_BYTES, type TransportHost } from './context.ts'
import { replyBatch } from './reply-batch.ts'

/** How long a graceful close waits for the peer to take our last bytes. */
const END_GRACE_MS = 2_000

export class TcpConnection extends BaseConnection {
  readonly protocol = 'tcp' as const
  /** When the frame now half-received began arriving; 0 when none is. */
  partialSince = 0
  private paused = false
  readonly decoder: FrameDecoder
  private peerError: Error | undefined
  /**
   * A frame broke the limits: reading has stopped, and the connection closes
   * with this reason once the requests decoded before it have answered (the
   * Go servers answer them too, then close).
   */
  private closingFor: 'frame-too-large' | 'bad-frame' | null = null

  constructor(
    private readonly socket: net.Socket,
    private readonly host: TransportHost,
    private readonly codec: FrameCodec,
  ) {
    super({ address: socket.remoteAddress!, port: socket.remotePort!, family: socket.remoteFamily ?? 'IPv4' }, host)
    this.decoder = codec.createDecoder(host.config.limits.maxPacketSize)
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => {
      if (this.closingFor !== null) return
      this.lastActive = Date.now()
      this.decoder.push(chunk)
      this.drain()
    })
    socket.on('error', (err) => (this.peerError = err))
    socket.on('close', () => this.close(this.peerError ? 'peer-error' : 'peer-closed'))
  }

  private drain(): void {
    const { decoder, socket } = this
    const max = this.host.config.limits.maxInflightPerConn
    const dispatcher = this.host.dispatcher
    let frames = 0
    // Replies to this read gather in one buffer, written once (reply-batch.ts).
    // A drain nested in another connection's (a handler's side effect) writes directly.
    const batching = replyBatch.owner === null
    if (batching) replyBatch.owner = this
    try {
      while (!this.closed) {
        if (this.load >= max) {
          if (!this.paused) {
            this.paused = true
            socket.pause()
          }
          break
        }
        if (!decoder.next()) break
        frames++
        dispatcher.deliver(this, decoder.msgId, decoder.data)
      }
    } catch (err) {
      this.badFrame(err)
    } finally {
      if (batching) {
        replyBatch.owner = null
        replyBatch.flush(socket)
        if (socket.writableLength > OUTBOUND_CHECK_BYTES) this.host.outboundGrew()
      }
    }
    if (decoder.pending > 0 && !this.paused) {
      if (frames > 0 || this.partialSince === 0) this.partialSince = Date.now()
    } else {
      this.partialSince = 0
    }
  }

  private badFrame(thrown: unknown): void {
    const tooLarge = thrown instanceof EnetError && thrown.code === 'ENET_ERR_FRAME_TOO_LARGE'
    const reason = tooLarge ? 'frame-too-large' : 'bad-frame'
    if (tooLarge) this.host.count('closed.frame-too-large')
    // A user codec's own error keeps its message, under the code of a bad frame.
    const err = thrown instanceof EnetError ? thrown : new EnetError('ENET_ERR_BAD_FRAME', [describe(thrown)], { cause: thrown })
    this.host.rlog.warn(reason, { err, conn: this.id, remote: `${this.remote.address}:${this.remote.port}` }, `closing connection: ${err.message}`)
    // Nothing after the bad header is read; what came before it is answered
    // first (each request is bounded by its handler timeout), then the
    // socket ends once the replies are flushed.
    this.closingFor = reason
    this.paused = true
    this.socket.pause()
    this.closeIfAnswered()
  }

  private closeIfAnswered(): void {
    if (this.closingFor !== null && this.load === 0) this.close(this.closingFor)
  }

  override get local(): { address: string; port: number } | undefined {
    const { localAddress, localPort } = this.socket
    return localAddress === undefined || localPort === undefined ? undefined : { address: localAddress, port: localPort }
  }

  override checkDeadlines(now: number, limits: EnetConfig['limits']): void {
    if (this.partialSince !== 0 && now - this.partialSince > limits.frameTimeoutMs) {
      this.host.rlog.warn('frame-timeout', { conn: this.id, remote: `${this.remote.address}:${this.remote.port}`, ms: limits.frameTimeoutMs }, 'closing connection: frame not completed in time')
      this.close('frame-timeout')
    } else {
      super.checkDeadlines(now, limits)
    }
  }

  override limitsChanged(limits: EnetConfig['limits']): void {
    this.decoder.maxPacketSize = limits.maxPacketSize
  }

  /** Bytes written and not yet taken by the kernel, with the replies gathered for this read. */
  override get unsent(): number {
    return replyBatch.owner === this ? this.socket.writableLength + replyBatch.bytes : this.socket.writableLength
  }

  override roomAgain(): void {
    if (this.closingFor !== null) return this.closeIfAnswered()
    if (!this.paused || this.closed) return
    this.paused = false
    this.socket.resume()
    this.drain()
  }

  send(msgId: number, data?: Payload): boolean {
    if (this.closed) return false
    const socket = this.socket
    const gathering = replyBatch.owner === this
    const queued = this.unsent
    // Judged before the write: one reply larger than the budget still goes to
    // a peer that reads, and what waits unsent stays within budget + one frame.
    if (queued > this.host.config.limits.maxOutboundBytes) {
      this.host.count('closed.slow-consumer')
      this.host.rlog.warn('slow-consumer', { conn: this.id, remote: `${this.remote.address}:${this.remote.port}`, queued }, 'closing slow consumer: outbound budget exceeded')
      this.close('slow-consumer')
      return false
    }
    if (gathering) replyBatch.add(socket, this.codec, msgId, toBuffer(data))
    else socket.write(this.codec.encode(msgId, toBuffer(data)))
    if (socket.writableLength > OUTBOUND_CHECK_BYTES) this.host.outboundGrew()
    return true
  }

  protected release(_reason: CloseReason, gracefulClose: boolean): void {
    const socket = this.socket
    // After a bad frame the replies to the frames before it still go out.
    const graceful = gracefulClose || this.closingFor !== null
    if (replyBatch.owner === this) {
      // Closed while handling a read: a graceful end still sends the replies gathered so far.
      if (graceful && !socket.destroyed) replyBatch.flush(socket)
      else replyBatch.discard()
    }
    if (!graceful || socket.destroyed) {
      socket.destroy()
      return
    }
    socket.end()
    setTimeout(() => socket.destroy(), END_GRACE_MS).unref()
  }
}

export class TcpTransport {
  private readonly server: net.Server

  constructor(
    private readonly host: TransportHost,
    private readonly codec: FrameCodec,
  ) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket))
    this.server.on('error', (err) => host.log.error({ err }, 'tcp server error'))
  }

  private accept(socket: net.Socket): void {
    const { limits } = this.host.config
    const ip = socket.remoteAddress
    if (ip === undefined) {
      socket.destroy()
      return
    }
    const refuse = this.host.manager.tcpCount >= limits.maxConn ? 'max-conn' : this.host.manager.countFor(ip) >= limits.maxConnPerIp ? 'max-conn-per-ip' : null
    if (refuse) {
      this.host.count(`refused.${refuse}`)
      this.host.rlog.warn(`refused:${refuse}`, { remote: `${ip}:${socket.remotePort}`, limit: refuse === 'max-conn' ? limits.maxConn : limits.maxConnPerIp }, `connection refused: ${refuse}`)
      socket.on('error', () => {})
      socket.destroy()
      return
    }
    this.host.opened(new TcpConnection(socket, this.host, this.codec))
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject)
        const a = this.server.address() as net.AddressInfo
        resolve({ host: a.address, port: a.port })
      })
    })
  }

  /** Stop accepting; existing connections stay until closed one by one. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()))
  }
}
