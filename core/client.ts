// The client library: connect('tcp://host:port') or connect('udp://host:port').
// Replies carry no correlation id on the wire (zinx, Go enet), so a request
// is answered by the first later message with its reply id, oldest first.
import { EventEmitter } from 'node:events'
import dgram from 'node:dgram'
import { lookup } from 'node:dns'
import net from 'node:net'
import { assertMsgId, enetDatagram, tlvBE, toBuffer } from './codec.ts'
import type { DatagramCodec, FrameCodec, FrameDecoder } from './codec.ts'
import { EnetError } from './errors.ts'
import { COOKIE_BYTES, COOKIE_CHALLENGE, COOKIE_ECHO, COOKIE_REQUEST } from './cookie.ts'
import type { CloseReason, Payload } from './types.ts'

export interface ReconnectOptions {
  initialMs?: number
  maxMs?: number
  factor?: number
  /** 0.5 spreads each delay uniformly over ±50%. */
  jitter?: number
}

export interface ClientOptions {
  /** A FrameCodec for tcp:// (default tlv-be), a DatagramCodec for udp:// (default enet). */
  codec?: FrameCodec | DatagramCodec
  /** Largest data size accepted from the server; default 1 MiB. */
  maxPacketSize?: number
  /** TCP only; default on: 100 ms, ×2, at most 5 s, ±50% jitter. */
  reconnect?: boolean | ReconnectOptions
  /** Bytes sent while not connected wait here up to this bound; default 1 MiB. */
  maxQueuedBytes?: number
  /**
   * UDP only: prove this client's address to a server in strict mode (a cookie
   * round trip) before ready() resolves. Unasked challenges are answered anyway.
   */
  validateAddress?: boolean
}

export interface RequestOptions {
  /** The msgId of the expected reply; default the request's msgId. */
  replyId?: number
  timeoutMs?: number
}

export interface Message {
  msgId: number
  data: Buffer
}

export interface ClientEvents {
  message: [message: Message]
  connect: []
  disconnect: [reason: CloseReason]
  error: [error: Error]
  /** A strict-mode server challenged this UDP client and it answered. */
  validated: []
}

interface Pending {
  /** The connection its frame went out on (numbered from 1); a request queued while down belongs to the next. */
  conn: number
  replyId: number
  timeoutMs: number
  resolve(m: Message): void
  reject(e: Error): void
  timer: NodeJS.Timeout | undefined
}

const MiB = 1024 * 1024

export function connect(url: string, opts: ClientOptions = {}): Client {
  const m = /^(tcp|udp):\/\/(?:\[([^\]]+)\]|([^:/\[\]]+)):(\d{1,5})\/?$/.exec(url)
  const port = m ? Number(m[4]) : 0
  if (!m || port < 1 || port > 65535) throw new EnetError('ENET_ERR_BAD_URL', [JSON.stringify(url)])
  const host = m[2] ?? m[3]!
  if (m[1] === 'tcp') {
    const codec = opts.codec ?? tlvBE
    if (!('createDecoder' in codec)) throw new EnetError('ENET_ERR_CONFIG', ['codec for tcp:// must be a FrameCodec'])
    return new TcpClient(url, host, port, codec, opts)
  }
  const codec = opts.codec ?? enetDatagram
  if (!('decode' in codec)) throw new EnetError('ENET_ERR_CONFIG', ['codec for udp:// must be a DatagramCodec'])
  return new UdpClient(url, host, port, codec, opts)
}

export abstract class Client extends EventEmitter<ClientEvents> {
  abstract readonly protocol: 'tcp' | 'udp'
  abstract readonly localPort: number | undefined
  connected = false
  /** Set by close(), or when a connection is lost for good (no reconnect). */
  protected ended: EnetError | null = null
  protected readonly maxPacketSize: number
  private readonly maxQueuedBytes: number
  private readonly waiting = new Map<number, Pending[]>()
  private queue: Buffer[] = []
  private queuedBytes = 0
  private readyWaiters: Array<{ resolve(): void; reject(e: Error): void }> = []
  private closing: Promise<void> | null = null

  constructor(
    readonly url: string,
    readonly host: string,
    readonly port: number,
    opts: ClientOptions,
  ) {
    super()
    this.maxPacketSize = opts.maxPacketSize ?? MiB
    this.maxQueuedBytes = opts.maxQueuedBytes ?? MiB
  }

  /** Resolves once connected (TCP) or bound (UDP). */
  ready(): Promise<void> {
    if (this.connected) return Promise.resolve()
    if (this.ended) return Promise.reject(this.ended)
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }))
  }

  send(msgId: number, data?: Payload): void {
    assertMsgId(msgId)
    const frame = this.encode(msgId, toBuffer(data))
    if (this.connected) return this.write(frame)
    if (this.ended) throw this.ended
    if (this.queuedBytes + frame.length > this.maxQueuedBytes) {
      throw new EnetError('ENET_ERR_NOT_CONNECTED', [`${this.url} (send queue full at ${this.maxQueuedBytes} bytes)`])
    }
    this.queue.push(frame)
    this.queuedBytes += frame.length
  }

  request(msgId: number, data?: Payload, opts: RequestOptions = {}): Promise<Message> {
    const replyId = opts.replyId ?? msgId
    const timeoutMs = opts.timeoutMs ?? 5000
    try {
      assertMsgId(replyId)
      this.send(msgId, data)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { conn: this.connected ? this.conns : this.conns + 1, replyId, timeoutMs, resolve, reject, timer: undefined }
      p.timer = setTimeout(this.onTimeout, timeoutMs, p)
      const list = this.waiting.get(replyId)
      if (list) list.push(p)
      else this.waiting.set(replyId, [p])
    })
  }

  /** Rejects pending requests, stops reconnecting and releases the socket. */
  close(): Promise<void> {
    if (this.closing) return this.closing
    this.ended = new EnetError('ENET_ERR_CLIENT_CLOSED')
    this.fail(this.ended)
    this.closing = this.shutdown()
    return this.closing
  }

  protected abstract encode(msgId: number, data: Buffer): Buffer
  protected abstract write(frame: Buffer): void
  protected abstract shutdown(): Promise<void>

  protected opened(): void {
    this.conns++
    this.connected = true
    const queue = this.queue
    this.queue = []
    this.queuedBytes = 0
    for (const frame of queue) this.write(frame)
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const w of waiters) w.resolve()
    this.emit('connect')
  }

  protected received(msgId: number, data: Buffer): void {
    const list = this.waiting.get(msgId)
    if (!list && this.listenerCount('message') === 0) return
    const m: Message = { msgId, data }
    if (list) {
      const p = list.shift()!
      if (list.length === 0) this.waiting.delete(msgId)
      clearTimeout(p.timer)
      p.resolve(m)
    }
    this.emit('message', m)
  }

  /**
   * The connection dropped: requests written on it will never be answered,
   * and with no correlation id on the wire a reply on the next connection
   * would be matched to them. They fail now; requests queued since wait on.
   */
  protected failWritten(err: EnetError): void {
    for (const [replyId, list] of this.waiting) {
      const keep = list.filter((p) => p.conn > this.conns)
      for (const p of list) {
        if (p.conn > this.conns) continue
        clearTimeout(p.timer)
        p.reject(err)
      }
      if (keep.length) this.waiting.set(replyId, keep)
      else this.waiting.delete(replyId)
    }
  }

  /** Rejects everyone waiting: requests, ready() callers, queued sends. */
  protected fail(err: EnetError): void {
    for (const list of this.waiting.values()) {
      for (const p of list) {
        clearTimeout(p.timer)
        p.reject(err)
      }
    }
    this.waiting.clear()
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const w of waiters) w.reject(err)
    this.queue = []
    this.queuedBytes = 0
  }

  /** 'error' is informational here (reconnect handles it): never crash a user who did not listen. */
  protected report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  /** Connections opened so far. */
  protected conns = 0

  private readonly onTimeout = (p: Pending): void => {
    const list = this.waiting.get(p.replyId)
    const i = list ? list.indexOf(p) : -1
    if (i < 0) return
    list!.splice(i, 1)
    if (list!.length === 0) this.waiting.delete(p.replyId)
    p.reject(new EnetError('ENET_ERR_REQUEST_TIMEOUT', [p.replyId, p.timeoutMs]))
  }
}

class TcpClient extends Client {
  readonly protocol = 'tcp'
  private socket: net.Socket | null = null
  private decoder: FrameDecoder | null = null
  private downReason: CloseReason = 'peer-closed'
  private lastError: Error | null = null
  private timer: NodeJS.Timeout | null = null
  private attempt = 0
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
    this.backoff = r === false ? null : { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5, ...(r === true ? {} : r) }
    this.dial()
  }

  get localPort(): number | undefined {
    return this.socket?.localPort
  }

  protected encode(msgId: number, data: Buffer): Buffer {
    return this.codec.encode(msgId, data)
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
      s.once('close', () => resolve())
      // end() flushes what send() queued; destroying after the flush keeps
      // close() prompt even if the server never closes its side.
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
    this.attempt = 0
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

class UdpClient extends Client {
  readonly protocol = 'udp'
  private socket: dgram.Socket | null = null
  private address = ''
  private inflight = 0
  private drained: (() => void) | null = null
  private readonly scratch = { msgId: 0, data: Buffer.alloc(0) }
  private readonly validate: boolean

  constructor(
    url: string,
    host: string,
    port: number,
    private readonly codec: DatagramCodec,
    opts: ClientOptions,
  ) {
    super(url, host, port, opts)
    this.validate = opts.validateAddress === true
    const family = net.isIP(host)
    if (family) this.bind(host, family)
    else
      lookup(host, (err, address, fam) => {
        if (err) this.abort(err)
        else if (!this.ended) this.bind(address, fam)
      })
  }

  get localPort(): number | undefined {
    return this.connected ? this.socket!.address().port : undefined
  }

  protected encode(msgId: number, data: Buffer): Buffer {
    return this.codec.encode(msgId, data)
  }

  protected write(frame: Buffer): void {
    this.inflight++
    this.socket!.send(frame, this.port, this.address, this.onSent)
  }

  protected shutdown(): Promise<void> {
    const s = this.socket
    if (!s) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        const wasConnected = this.connected
        this.connected = false
        this.socket = null
        s.close(() => resolve())
        if (wasConnected) this.emit('disconnect', 'client-close')
      }
      if (this.inflight === 0 || !this.connected) done()
      else this.drained = done
    })
  }

  private bind(address: string, family: number): void {
    this.address = address
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
    s.on('message', this.onMessage)
    s.on('error', this.onError)
    this.socket = s
    // A loopback target gets a loopback-only socket: nothing else can reach it.
    const loopback = address === '::1' || address.startsWith('127.')
    s.bind({ port: 0, address: loopback ? address : undefined }, () => {
      if (this.ended) return
      // Padded so the server's challenge fits within 3× this datagram.
      if (this.validate) s.send(this.codec.encode(COOKIE_REQUEST, Buffer.alloc(COOKIE_BYTES)), this.port, this.address)
      else this.opened()
    })
  }

  private abort(err: Error): void {
    this.report(err)
    if (this.ended) return
    try {
      this.socket?.close()
    } catch {
      // A socket whose bind failed may already be released; nothing to free.
    }
    this.socket = null
    this.ended = new EnetError('ENET_ERR_NOT_CONNECTED', [`${this.url} (${err.message})`], { cause: err })
    this.fail(this.ended)
  }

  private readonly onMessage = (msg: Buffer): void => {
    const c = this.codec
    // Short, oversized or lying datagrams are dropped, as the server does.
    if (msg.length < c.headerSize || msg.length - c.headerSize > this.maxPacketSize) return
    if (!c.decode(msg, this.scratch)) return
    if (this.scratch.msgId === COOKIE_CHALLENGE) return this.answerChallenge(this.scratch.data)
    this.received(this.scratch.msgId, this.scratch.data)
  }

  private answerChallenge(cookie: Buffer): void {
    this.socket?.send(this.codec.encode(COOKIE_ECHO, cookie), this.port, this.address, (err) => {
      if (!err && !this.connected && !this.ended) this.opened()
    })
    this.emit('validated')
  }

  private readonly onSent = (err: Error | null): void => {
    if (err) this.report(err)
    if (--this.inflight === 0 && this.drained) this.drained()
  }

  private readonly onError = (err: Error): void => {
    if (this.connected) this.report(err)
    else this.abort(err)
  }
}
