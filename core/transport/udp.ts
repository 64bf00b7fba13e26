// UDP: one socket; each source ip:port is a peer session (a Connection) that
// starts with its first datagram and ends when idle. Replies leave from the
// listening socket, as in Go enet.
import dgram from 'node:dgram'
import net from 'node:net'
import { toBuffer, type DatagramCodec } from '../codec.ts'
import { BaseConnection } from '../connection.ts'
import type { CloseReason, Payload } from '../types.ts'
import type { TransportHost } from './host.ts'

export class UdpPeer extends BaseConnection {
  readonly protocol = 'udp' as const

  constructor(
    readonly key: string,
    address: string,
    port: number,
    family: string,
    private readonly transport: UdpTransport,
    host: TransportHost,
  ) {
    super({ address, port, family }, host)
  }

  send(msgId: number, data?: Payload): boolean {
    if (this.closed) return false
    return this.transport.sendTo(this.transport.codec.encode(msgId, toBuffer(data)), this.remote.port, this.remote.address)
  }

  protected release(_reason: CloseReason): void {
    this.transport.forget(this)
  }
}

export class UdpTransport {
  private socket: dgram.Socket | null = null
  private readonly peers = new Map<string, UdpPeer>()
  private readonly decoded = { msgId: 0, data: Buffer.alloc(0) }
  private accepting = true

  constructor(
    private readonly host: TransportHost,
    readonly codec: DatagramCodec,
  ) {}

  listen(hostname: string, port: number): Promise<{ host: string; port: number }> {
    const socket = dgram.createSocket({ type: net.isIPv6(hostname) ? 'udp6' : 'udp4', reuseAddr: false })
    this.socket = socket
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo))
    return new Promise((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(port, hostname, () => {
        socket.off('error', reject)
        // Send errors (an unreachable peer, a full buffer) are per datagram, never fatal.
        socket.on('error', (err) => this.host.rlog.warn('udp-error', { err }, 'udp socket error'))
        const a = socket.address()
        resolve({ host: a.address, port: a.port })
      })
    })
  }

  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const host = this.host
    const { limits } = host.config
    const from = `${rinfo.address}:${rinfo.port}`
    if (msg.length < this.codec.headerSize) return this.dropped('short-datagram', from, msg.length)
    if (msg.length - this.codec.headerSize > limits.maxPacketSize) return this.dropped('oversized-datagram', from, msg.length)
    let peer = this.peers.get(from)
    if (peer === undefined) {
      if (!this.accepting) return
      if (this.peers.size >= host.config.udp.maxPeers) return this.dropped('max-peers', from, msg.length)
      peer = new UdpPeer(from, rinfo.address, rinfo.port, rinfo.family, this, host)
      this.peers.set(from, peer)
      host.opened(peer)
      // An onConnStart tap may have refused this peer (a ban list, say).
      if (peer.closed) return
    }
    peer.lastActive = Date.now()
    const out = this.decoded
    if (!this.codec.decode(msg, out)) return this.dropped('bad-datagram', from, msg.length)
    if (peer.load >= limits.maxInflightPerConn) return this.dropped('queue-full', from, msg.length, peer)
    host.dispatcher.deliver(peer, out.msgId, out.data)
  }

  private dropped(reason: 'short-datagram' | 'oversized-datagram' | 'max-peers' | 'bad-datagram' | 'queue-full', from: string, bytes: number, peer?: UdpPeer): void {
    this.host.count(`drop.${reason}`)
    this.host.rlog.warn(`udp:${reason}`, { remote: from, bytes }, `datagram dropped: ${reason}`)
    this.host.dispatcher.drop(reason, peer, undefined, from)
  }

  sendTo(buf: Buffer, port: number, address: string): boolean {
    if (this.socket === null) return false
    this.socket.send(buf, port, address)
    return true
  }

  forget(peer: UdpPeer): void {
    if (this.peers.get(peer.key) === peer) this.peers.delete(peer.key)
  }

  stopAccepting(): void {
    this.accepting = false
  }

  close(): Promise<void> {
    const socket = this.socket
    this.socket = null
    return new Promise((resolve) => (socket ? socket.close(() => resolve()) : resolve()))
  }
}
