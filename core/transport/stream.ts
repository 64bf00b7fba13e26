// What the connection-oriented transports share (TCP, TLS, WebSocket): one
// frame codec, the per-connection outbound budget judged before each write,
// the frame deadline the server's sweep reads, and admission under maxConn
// and maxConnPerIp. Each transport only says how bytes leave and how reading
// pauses.
import type net from 'node:net'
import { toBuffer, type FrameCodec, type FrameDecoder } from '../wire/codec.ts'
import type { EnetConfig } from '../config.ts'
import { BaseConnection } from '../engine/connection.ts'
import { EnetError, describe } from '../errors.ts'
import type { CloseReason, Payload, RemoteAddress } from '../types.ts'
import type { TransportHost } from './context.ts'

export type StreamProtocol = 'tcp' | 'tls' | 'ws'

export abstract class StreamConnection extends BaseConnection {
  abstract override readonly protocol: StreamProtocol
  /** When the frame now half-received began arriving; 0 when none is. */
  partialSince = 0
  /**
   * A frame broke the limits: reading has stopped, and the connection closes
   * with this reason once the requests decoded before it have answered (the
   * Go servers answer them too, then close).
   */
  protected closingFor: CloseReason | null = null

  protected readonly decoder: FrameDecoder
  // Made by the first read of `remote`: the socket keeps the peer's address
  // (admit() read it), and a connection nobody asks about was 48 bytes
  // lighter for it (bench/ accept).
  private peer: RemoteAddress | undefined = undefined

  constructor(
    /** The TCP socket under the frames (under TLS or WebSocket for those). */
    protected readonly socket: net.Socket,
    host: TransportHost,
    protected readonly codec: FrameCodec,
  ) {
    super(host)
    this.decoder = codec.createDecoder(host.config.limits.maxPacketSize)
    socket.setNoDelay(true)
  }

  get remote(): RemoteAddress {
    const s = this.socket
    return (this.peer ??= { address: s.remoteAddress!, port: s.remotePort!, family: s.remoteFamily ?? 'IPv4' })
  }

  override get remoteAddress(): string {
    return this.peer?.address ?? this.socket.remoteAddress!
  }

  /** The owner, read as the transport host it is: one field less per connection. */
  protected get host(): TransportHost {
    return this.owner as TransportHost
  }

  override get local(): { address: string; port: number } | undefined {
    const { localAddress, localPort } = this.socket
    return localAddress === undefined || localPort === undefined ? undefined : { address: localAddress, port: localPort }
  }

  /** Bytes written and not yet taken by the peer's transport. */
  abstract override get unsent(): number

  override checkDeadlines(now: number, limits: EnetConfig['limits']): void {
    if (this.partialSince !== 0 && now - this.partialSince > limits.frameTimeoutMs) {
      this.host.rlog.warn('frame-timeout', { conn: this.id, protocol: this.protocol, remote: remoteText(this.remote), ms: limits.frameTimeoutMs }, 'closing connection: frame not completed in time')
      this.close('frame-timeout')
    } else {
      super.checkDeadlines(now, limits)
    }
  }

  override limitsChanged(limits: EnetConfig['limits']): void {
    this.decoder.maxPacketSize = limits.maxPacketSize
  }
  /** Encode and write one frame (the budget was checked). */
  protected abstract write(msgId: number, data: Buffer): void
  /** Read nothing more from the peer (a bad frame came). */
  protected abstract stopReading(): void

  send(msgId: number, data?: Payload): boolean {
    if (this.closed) return false
    // Judged before the write: one reply larger than the budget still goes to
    // a peer that reads, and what waits unsent stays within budget + one frame.
    const queued = this.unsent
    if (queued > this.host.config.limits.maxOutboundBytes) {
      this.host.count('closed.slow-consumer')
      this.host.rlog.warn('slow-consumer', { conn: this.id, remote: remoteText(this.remote), queued }, 'closing slow consumer: outbound budget exceeded')
      this.close('slow-consumer')
      return false
    }
    this.write(msgId, toBuffer(data))
    return true
  }

  /**
   * A frame the codec refused: log it naming the peer, read nothing more,
   * answer what came before it (each request is bounded by its handler
   * timeout), then close. `now`: the transport cannot answer any more.
   */
  protected badFrame(thrown: unknown, now = false): void {
    const tooLarge = thrown instanceof EnetError && (thrown.code === 'ENET_ERR_FRAME_TOO_LARGE' || thrown.code === 'ENET_ERR_WS_TOO_LARGE')
    const reason = tooLarge ? 'frame-too-large' : 'bad-frame'
    if (tooLarge) this.host.count('closed.frame-too-large')
    // A user codec's own error keeps its message, under the code of a bad frame.
    const err = thrown instanceof EnetError ? thrown : new EnetError('ENET_ERR_BAD_FRAME', [describe(thrown)], { cause: thrown })
    this.host.rlog.warn(reason, { err, conn: this.id, protocol: this.protocol, remote: remoteText(this.remote) }, `closing connection: ${err.message}`)
    if (now) return this.close(reason)
    this.closingFor = reason
    this.stopReading()
    this.closeIfAnswered()
  }

  protected closeIfAnswered(): void {
    if (this.closingFor !== null && this.load === 0) this.close(this.closingFor)
  }
}

export function remoteText(r: { address: string; port: number }): string {
  return `${r.address}:${r.port}`
}

/**
 * maxConn and maxConnPerIp, counted over every stream connection whatever
 * carries it. Returns false (counted, logged) when the peer must be refused.
 */
export function admit(host: TransportHost, ip: string | undefined, port: number | undefined): ip is string {
  if (ip === undefined) return false
  const { limits } = host.config
  const refuse = host.manager.streamCount >= limits.maxConn ? 'max-conn' : host.manager.countFor(ip) >= limits.maxConnPerIp ? 'max-conn-per-ip' : null
  if (refuse === null) return true
  host.count(`refused.${refuse}`)
  host.rlog.warn(`refused:${refuse}`, { remote: `${ip}:${port}`, limit: refuse === 'max-conn' ? limits.maxConn : limits.maxConnPerIp }, `connection refused: ${refuse}`)
  return false
}
