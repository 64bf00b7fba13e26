// UDP: one socket; each source ip:port is a peer session (a Connection) that
// starts with its first datagram and ends when idle. Replies leave from the
// listening socket, as in Go enet.
import dgram from 'node:dgram'
import { createRequire } from 'node:module'
import net from 'node:net'
import { toBuffer, type DatagramCodec } from '../wire/codec.ts'
import { BaseConnection, clock } from '../engine/connection.ts'
import { COOKIE_CHALLENGE, COOKIE_ECHO, COOKIE_REQUEST, CookieJar } from '../wire/cookie.ts'
import { BucketMap, TokenBucket } from '../engine/token-bucket.ts'
import { rateInForce } from '../engine/source-rates.ts'
import { sourceOf } from '../engine/source.ts'
import { OneShotSessions } from './udp-one-shot.ts'
import type { CloseReason, Payload, RemoteAddress } from '../types.ts'
import type { TransportHost } from './context.ts'

/** Credit earned by received bytes is capped, so a long-quiet peer cannot bank a flood. */
const CREDIT_CAP = 64 * 1024
/** Senders the server has budgets for without a session (sendUdp to a node's address). */
const MAX_LOOSE_BUDGETS = 10_000
/** A live peer moves to the recent end of the peer map at most this often (ms). */
const TOUCH_MS = 1_000
/** Busy peers passed over (and sent to the back) at most, looking for one to evict. */
const EVICT_SCAN = 1_024
/** Destination IPs with a byte budget; the oldest is forgotten beyond this (BucketMap). */
const MAX_IP_BUDGETS = 100_000

export class UdpPeer extends BaseConnection {
  readonly protocol = 'udp' as const
  /** Has echoed a cookie: proved it receives at this address. */
  validated = false
  /** performance.now() when this peer last moved to the recent end of the peer map. */
  touchedAt = 0
  /** One datagram in, nothing out so far (udp-one-shot.ts). */
  oneShot = false
  /** Bytes of the latest datagram it sent: a reply up to 3 × that is no amplification. */
  lastIn = 0
  /** Its IPv4 address or IPv6 /64: whose share of udp.maxPeers it holds. */
  readonly source: string
  readonly remote: RemoteAddress

  constructor(
    readonly key: string,
    address: string,
    port: number,
    family: string,
    private readonly transport: UdpTransport,
    host: TransportHost,
    /** Bytes this address may still be sent: 3 × what it sent us, plus a refill. */
    readonly budget: TokenBucket,
    /** The same for its IP, shared with every port of it; looked up once, not per datagram. */
    public ipBudget: TokenBucket,
  ) {
    super(host)
    this.remote = { address, port, family }
    this.source = sourceOf(address)
  }

  send(msgId: number, data?: Payload): boolean {
    if (this.closed) return false
    return this.transport.sendTo(this.transport.codec.encode(msgId, toBuffer(data)), this.remote.port, this.remote.address, this)
  }

  protected release(_reason: CloseReason): void {
    this.transport.forget(this)
  }
}

export class UdpTransport {
  private socket: dgram.Socket | null = null
  /** Every session, in order of activity (to TOUCH_MS): the front is the least recently active. */
  private readonly peers = new Map<string, UdpPeer>()
  /**
   * The same sessions by address, then port: how a datagram finds its own.
   * Looking up `${address}:${port}` built and hashed a new string per
   * datagram, half of receive()'s own time (bench/, 1M datagrams); the
   * address string hashes without a copy and the port is a small integer.
   */
  private readonly byAddress = new Map<string, Map<number, UdpPeer>>()
  /** Sessions that have not proven their address, in the same order: evicted before proven ones. */
  private readonly unproven = new Map<string, UdpPeer>()
  /** Sessions of one datagram that got nothing back: they expire early and are evicted first. */
  private readonly oneShot = new OneShotSessions<UdpPeer>()
  /** Each source's sessions, in the order they began: a source at udp.maxPeersPerSource makes room among its own. */
  private readonly bySource = new Map<string, Map<string, UdpPeer>>()
  /**
   * Reply bytes, server-wide, to addresses that have not proven themselves,
   * beyond 3 × the datagram that asked: spoofing many victims' addresses
   * cannot multiply what the per-address budgets allow.
   */
  private readonly unprovenReplies: TokenBucket
  private readonly decoded = { msgId: 0, data: Buffer.alloc(0) }
  private accepting = true
  private readonly intake: TokenBucket
  private readonly loose: BucketMap
  /**
   * Reply bytes to one IP, whatever its port: a spoofer that rotates the
   * victim's port gets no more than one address's budget. Proven peers skip it.
   * Peers hold their IP's bucket; one the map forgets (past MAX_IP_BUDGETS
   * IPs) lives on with them, so such an IP may get a second budget, never more
   * than one per ip:port.
   */
  private readonly perIp: BucketMap
  private readonly cookies = new CookieJar()
  /**
   * The clock read when the last datagram arrived. Replies sent while handling
   * it reuse it; a reply sent later by an async handler sees an older time,
   * which only makes its budget refill later (never a larger budget).
   */
  private now = performance.now()
  /** Datagram bytes received and sent, header included (dgram keeps no count of its own). */
  bytesIn = 0
  bytesOut = 0

  constructor(
    private readonly host: TransportHost,
    readonly codec: DatagramCodec,
  ) {
    const u = host.config.udp
    this.intake = new TokenBucket(u.intakePerSec, u.intakePerSec)
    this.unprovenReplies = new TokenBucket(u.unprovenReplyBytesPerSec, u.unprovenReplyBurstBytes)
    this.loose = new BucketMap(() => this.newBudget(false), MAX_LOOSE_BUDGETS)
    this.perIp = new BucketMap(() => new TokenBucket(this.host.config.udp.replyBytesPerSec, this.host.config.udp.replyBurstBytes), MAX_IP_BUDGETS)
  }

  /** Address validation is on: explicitly, or 'auto' while a plugin asks for it. */
  get strict(): boolean {
    const { strict } = this.host.config.udp
    return strict === true || (strict === 'auto' && this.host.addressValidationRequired)
  }

  private newBudget(validated: boolean): TokenBucket {
    const u = this.host.config.udp
    // An unproven address in strict mode earns only credit: 3 × what it sent.
    return !validated && this.strict ? new TokenBucket(0, 0) : new TokenBucket(u.replyBytesPerSec, u.replyBurstBytes)
  }

  /** Live config change: rates apply to the buckets already made. */
  reconfigure(): void {
    const u = this.host.config.udp
    this.intake.set(u.intakePerSec, u.intakePerSec)
    this.unprovenReplies.set(u.unprovenReplyBytesPerSec, u.unprovenReplyBurstBytes)
    if (this.socket !== null) this.oneShot.start(u.oneShotIdleMs)
    // Sources start afresh under new rates; budgets of live peers take the new refill.
    this.perIp.clear()
    for (const peer of this.peers.values()) {
      peer.ipBudget = this.perIp.get(peer.remote.address)
      if (peer.validated || !this.strict) peer.budget.set(u.replyBytesPerSec, u.replyBurstBytes)
    }
  }

  listen(hostname: string, port: number): Promise<{ host: string; port: number }> {
    const socket = dgram.createSocket({ type: net.isIPv6(hostname) ? 'udp6' : 'udp4', reuseAddr: false, lookup: ipLookup })
    this.socket = socket
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo))
    return new Promise((resolve, reject) => {
      socket.once('error', reject)
      // exclusive: in a cluster worker the socket is this process's own, not a handle shared through the primary (which would spread one peer's datagrams over workers).
      socket.bind({ port, address: hostname, exclusive: true }, () => {
        socket.off('error', reject)
        // Send errors (an unreachable peer, a full buffer) are per datagram, never fatal.
        socket.on('error', (err) => this.host.rlog.warn('udp-error', { err }, 'udp socket error'))
        const a = socket.address()
        this.oneShot.start(this.host.config.udp.oneShotIdleMs)
        resolve({ host: a.address, port: a.port })
      })
    })
  }

  // Cheapest checks first: a flood is turned away before it costs a lookup,
  // a session or a log line.
  private receive(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const host = this.host
    const { limits, udp } = host.config
    const now = (this.now = performance.now())
    this.bytesIn += msg.length
    if (!this.intake.take(1, now)) return this.dropped('udp-intake', rinfo, msg.length)
    if (msg.length < this.codec.headerSize) return this.dropped('short-datagram', rinfo, msg.length)
    if (msg.length - this.codec.headerSize > limits.maxPacketSize) return this.dropped('oversized-datagram', rinfo, msg.length)
    const out = this.decoded
    if (!this.codec.decode(msg, out)) return this.dropped('bad-datagram', rinfo, msg.length)
    const route = host.router.get(out.msgId)
    const rate = rateInForce(udp.rateLimits, out.msgId, route?.rate)
    if (rate !== null && !host.rates.allow(rinfo.address, out.msgId, rate, now)) {
      return this.dropped('rate-limit', rinfo, msg.length)
    }
    let peer = this.byAddress.get(rinfo.address)?.get(rinfo.port)
    if (peer === undefined) {
      if (!this.accepting) return
      const from = `${rinfo.address}:${rinfo.port}`
      const source = sourceOf(rinfo.address)
      let mine = this.bySource.get(source)
      // A source at its share makes room among its own sessions, never among the others'.
      if (mine !== undefined && mine.size >= udp.maxPeersPerSource && !this.evictFrom(mine, 'udp.maxPeersPerSource')) return this.dropped('peers-per-source', rinfo, msg.length)
      if (this.peers.size >= udp.maxPeers && !this.evictOne()) return this.dropped('max-peers', rinfo, msg.length)
      peer = new UdpPeer(from, rinfo.address, rinfo.port, rinfo.family, this, host, this.newBudget(false), this.perIp.get(rinfo.address))
      peer.touchedAt = now
      this.peers.set(from, peer)
      const ports = this.byAddress.get(rinfo.address)
      if (ports === undefined) this.byAddress.set(rinfo.address, new Map([[rinfo.port, peer]]))
      else ports.set(rinfo.port, peer)
      if (mine === undefined) this.bySource.set(source, (mine = new Map()))
      mine.set(from, peer)
      this.unproven.set(from, peer)
      this.oneShot.add(peer)
      host.opened(peer)
      // An onConnStart tap may have refused this peer (a ban list, say).
      if (peer.closed) return
    } else if (peer.oneShot) {
      this.oneShot.keep(peer)
    }
    peer.lastActive = clock(now)
    // Keep the map in order of activity (to the second), so the front is what to evict.
    if (now - peer.touchedAt > TOUCH_MS) {
      peer.touchedAt = now
      toBack(this.peers, peer)
      if (!peer.validated) toBack(this.unproven, peer)
    }
    peer.lastIn = msg.length
    peer.budget.credit(3 * msg.length, CREDIT_CAP)
    peer.ipBudget.credit(3 * msg.length, CREDIT_CAP)
    if (out.msgId >= COOKIE_CHALLENGE && out.msgId <= COOKIE_REQUEST) return this.cookie(peer, out.msgId, out.data)
    if (host.dispatcher.full(peer)) return this.dropped('queue-full', rinfo, msg.length, peer)
    host.dispatcher.deliver(peer, out.msgId, out.data, route)
  }

  /**
   * The peer map is full: close the least recently active session with no
   * request running, an unproven one first. A flood of new source ports then
   * pushes out sessions instead of locking every new client out.
   */
  private evictOne(): boolean {
    return this.evictFrom(this.oneShot.map, 'udp.maxPeers') || this.evictFrom(this.unproven, 'udp.maxPeers') || this.evictFrom(this.peers, 'udp.maxPeers')
  }

  /** The first idle peer of `map`; busy ones met on the way go to the back, so they never wall off the rest. */
  private evictFrom(map: Map<string, UdpPeer>, bound: string): boolean {
    const busy: UdpPeer[] = []
    let victim: UdpPeer | undefined
    for (const peer of map.values()) {
      if (peer.load === 0) {
        victim = peer
        break
      }
      busy.push(peer)
      if (busy.length >= EVICT_SCAN) break
    }
    for (const peer of busy) toBack(map, peer)
    if (victim === undefined) return false
    this.host.count('closed.peer-evicted')
    this.host.rlog.warn('udp:evicted', { remote: victim.key, bound }, `udp session evicted: ${bound} sessions live`)
    // close() releases the session: forget() takes it out of both maps.
    victim.close('evicted')
    return true
  }

  /** The address-validation round trip; msgIds 0xFFFFFF00-0xFFFFFF02 are the transport's own. */
  private cookie(peer: UdpPeer, msgId: number, data: Buffer): void {
    const { address, port } = peer.remote
    if (msgId === COOKIE_REQUEST) {
      this.challenge(peer)
    } else if (msgId === COOKIE_ECHO && !peer.validated && this.cookies.check(address, port, data)) {
      peer.validated = true
      this.unproven.delete(peer.key)
      const u = this.host.config.udp
      peer.budget.set(u.replyBytesPerSec, u.replyBurstBytes)
      peer.budget.credit(u.replyBurstBytes, CREDIT_CAP)
    }
  }

  private challenge(peer: UdpPeer): void {
    this.sendTo(this.codec.encode(COOKIE_CHALLENGE, this.cookies.make(peer.remote.address, peer.remote.port)), peer.remote.port, peer.remote.address, peer)
  }

  private dropped(
    reason: 'udp-intake' | 'short-datagram' | 'oversized-datagram' | 'max-peers' | 'peers-per-source' | 'bad-datagram' | 'queue-full' | 'rate-limit',
    rinfo: dgram.RemoteInfo,
    bytes: number,
    peer?: UdpPeer,
  ): void {
    const from = `${rinfo.address}:${rinfo.port}`
    this.host.count(`drop.${reason}`)
    this.host.rlog.warn(`udp:${reason}`, { remote: from, bytes }, `datagram dropped: ${reason}`)
    this.host.dispatcher.drop(reason, peer, undefined, from)
  }

  /** Every datagram the server sends passes the destination's byte budget. */
  sendTo(buf: Buffer, port: number, address: string, peer?: UdpPeer): boolean {
    if (this.socket === null) return false
    // A reply on the session (conn.send) shows a conversation; a datagram sent to the address (sendUdp, a locate query) does not.
    const onSession = peer !== undefined
    peer ??= this.byAddress.get(address)?.get(port)
    const budget = peer?.budget ?? this.loose.get(`${address}:${port}`)
    const ipBudget = peer === undefined ? this.perIp.get(address) : peer.validated ? null : peer.ipBudget
    let sendable = budget.take(buf.length, this.now)
    if (sendable && ipBudget !== null && !ipBudget.take(buf.length, this.now)) {
      // Not sent: the address keeps what it had.
      budget.credit(buf.length, CREDIT_CAP)
      sendable = false
    }
    // Past 3 × what the address sent last, to an address not proven: the server-wide budget too.
    if (sendable && (peer === undefined || !peer.validated) && buf.length > 3 * (peer?.lastIn ?? 0) && !this.unprovenReplies.take(buf.length, this.now)) {
      budget.credit(buf.length, CREDIT_CAP)
      ipBudget?.credit(buf.length, CREDIT_CAP)
      this.host.count('drop.udp-unproven-budget')
      this.host.rlog.warn('udp-unproven-budget', { remote: `${address}:${port}`, bytes: buf.length }, 'reply dropped: server-wide budget for unproven addresses spent (udp.unprovenReplyBytesPerSec)')
      return false
    }
    if (!sendable) {
      this.host.count('drop.udp-reply-budget')
      this.host.rlog.warn('udp-reply-budget', { remote: `${address}:${port}`, bytes: buf.length }, 'reply dropped: destination over its byte budget')
      // An unproven peer is told how to prove its address (the challenge fits its 3× credit).
      if (peer && !peer.validated && this.strict && buf.length > 12) this.challenge(peer)
      return false
    }
    this.socket.send(buf, port, address)
    this.bytesOut += buf.length
    if (onSession && peer!.oneShot) this.oneShot.keep(peer!)
    return true
  }

  forget(peer: UdpPeer): void {
    if (this.peers.get(peer.key) !== peer) return
    this.peers.delete(peer.key)
    const ports = this.byAddress.get(peer.remote.address)
    if (ports !== undefined && ports.delete(peer.remote.port) && ports.size === 0) this.byAddress.delete(peer.remote.address)
    this.unproven.delete(peer.key)
    this.oneShot.delete(peer)
    const mine = this.bySource.get(peer.source)
    if (mine !== undefined && mine.delete(peer.key) && mine.size === 0) this.bySource.delete(peer.source)
  }

  stopAccepting(): void {
    this.accepting = false
  }

  close(): Promise<void> {
    const socket = this.socket
    this.socket = null
    this.oneShot.stop()
    return new Promise((resolve) => (socket ? socket.close(() => resolve()) : resolve()))
  }
}

/**
 * How socket.send() resolves a destination. What enet sends to is an IP (a
 * datagram's source, an address a node registered), which dns.lookup answers
 * on the next tick: a process.nextTick and a pass of the tick queue per
 * datagram, some 3 % of a UDP echo's CPU in a profile (bench/, plain Node's
 * echo pays it too). An IP is answered at once; a name still goes to DNS.
 */
const ipLookup: NonNullable<dgram.SocketOptions['lookup']> = (host, options, callback) => {
  const family = net.isIP(host)
  if (family !== 0) callback(null, host, family)
  else (dns ??= require('node:dns') as typeof import('node:dns')).lookup(host, options, callback)
}
// Loaded by the first name sent to: most servers only ever answer IPs.
const require = createRequire(import.meta.url)
let dns: typeof import('node:dns') | undefined

/** Move a peer to the recent end of an insertion-ordered map. */
function toBack(map: Map<string, UdpPeer>, peer: UdpPeer): void {
  map.delete(peer.key)
  map.set(peer.key, peer)
}
