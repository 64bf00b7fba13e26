// TCP (and TLS, which is TCP with a handshake first): one Connection per
// socket. Frames are decoded as bytes arrive; when a connection has
// maxInflightPerConn requests queued or running, reading stops
// (socket.pause) and the undecoded bytes wait in the decoder.
import net from 'node:net'
import type { FrameCodec } from '../wire/codec.ts'
import type { CloseReason } from '../types.ts'
import { OUTBOUND_CHECK_BYTES, type TransportHost } from './context.ts'
import { replyBatch } from './reply-batch.ts'
import { clock } from '../engine/connection.ts'
import { StreamConnection, admit } from './stream.ts'

/** How long a graceful close waits for the peer to take our last bytes. */
const END_GRACE_MS = 2_000

const kConnection = Symbol('enet.connection')
type ConnectionSocket = net.Socket & { [kConnection]: TcpConnection }

export class TcpConnection extends StreamConnection {
  private paused = false
  /** Bytes of a reply batch's scratch the socket holds beyond what it counts (reply-batch.ts); gone once its queue is empty. */
  private held = 0
  private peerError: Error | undefined

  constructor(
    socket: net.Socket,
    host: TransportHost,
    codec: FrameCodec,
    readonly protocol: 'tcp' | 'tls' = 'tcp',
  ) {
    super(socket, host, codec)
    // The same three listeners on every socket, which leads them to its
    // connection: a closure each, with their context, was 208 bytes of an
    // idle connection's heap (bench/ accept).
    ;(socket as ConnectionSocket)[kConnection] = this
    socket.on('data', TcpConnection.onData)
    socket.on('error', TcpConnection.onError)
    socket.on('close', TcpConnection.onClose)
  }

  private static onData(this: ConnectionSocket, chunk: Buffer): void {
    const conn = this[kConnection]
    if (conn.closingFor !== null) return
    conn.lastActive = clock()
    conn.decoder.push(chunk)
    conn.drain()
  }

  private static onError(this: ConnectionSocket, err: Error): void {
    this[kConnection].peerError = err
  }

  private static onClose(this: ConnectionSocket): void {
    const conn = this[kConnection]
    conn.close(conn.peerError ? 'peer-error' : 'peer-closed')
  }

  private drain(): void {
    const { decoder, socket } = this
    const dispatcher = this.host.dispatcher
    let frames = 0
    // Replies to this read gather in one buffer, written once (reply-batch.ts).
    // A drain nested in another connection's (a handler's side effect) writes directly.
    const batching = replyBatch.owner === null
    if (batching) replyBatch.owner = this
    try {
      while (!this.closed) {
        if (dispatcher.full(this)) {
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
        this.holds(replyBatch.flush(socket))
        if (this.unsent > OUTBOUND_CHECK_BYTES) this.host.outboundGrew()
      }
    }
    if (decoder.pending > 0 && !this.paused) {
      if (frames > 0 || this.partialSince === 0) this.partialSince = clock()
    } else {
      this.partialSince = 0
    }
  }

  protected stopReading(): void {
    this.paused = true
    this.socket.pause()
  }

  /** What a flush said the socket keeps of the batch's scratch beyond the bytes written. */
  private holds(bytes: number): void {
    if (bytes > 0) this.held = bytes
  }

  /** Bytes written and not yet taken by the kernel, with the replies gathered for this read. */
  override get unsent(): number {
    const queued = this.socket.writableLength
    if (queued === 0) this.held = 0
    return replyBatch.owner === this ? queued + this.held + replyBatch.bytes : queued + this.held
  }

  protected write(msgId: number, data: Buffer): void {
    const socket = this.socket
    // A batch past its size cap goes out on the way; the socket may keep its scratch then too.
    if (replyBatch.owner === this) this.holds(replyBatch.add(socket, this.codec, msgId, data))
    else socket.write(this.codec.encode(msgId, data))
    if (socket.writableLength > OUTBOUND_CHECK_BYTES) this.host.outboundGrew()
  }

  /**
   * Read from the socket's own counts when asked (metrics), so the data path
   * counts nothing. Under TLS the socket is the TLSSocket, whose counts are
   * the application bytes: a 100-byte write read as 100 there, 551 on the
   * TCP socket under it (records and the handshake).
   */
  override get bytesIn(): number {
    return this.socket.bytesRead
  }

  override get bytesOut(): number {
    return this.socket.bytesWritten
  }

  override roomAgain(): void {
    if (this.closingFor !== null) return this.closeIfAnswered()
    if (!this.paused || this.closed) return
    this.paused = false
    this.socket.resume()
    this.drain()
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
  protected readonly server: net.Server

  constructor(
    protected readonly host: TransportHost,
    private readonly codec: FrameCodec,
    private readonly protocol: 'tcp' | 'tls' = 'tcp',
  ) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.arrived(socket))
    this.server.on('error', (err) => host.log.error({ err }, `${protocol} server error`))
  }

  /** A socket was accepted by the kernel; TLS hands it to its handshake first. */
  protected arrived(socket: net.Socket): void {
    this.accept(socket)
  }

  protected accept(socket: net.Socket): void {
    if (!admit(this.host, socket.remoteAddress, socket.remotePort)) {
      socket.on('error', () => {})
      socket.destroy()
      return
    }
    this.host.opened(new TcpConnection(socket, this.host, this.codec, this.protocol))
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
