// The client library's shared half: request/reply matching (FIFO per reply
// msgId: the wire has no correlation id), queueing while down, events.
import { EventEmitter } from 'node:events'
import { assertMsgId, toBuffer } from '../wire/codec.ts'
import type { DatagramCodec, FrameCodec } from '../wire/codec.ts'
import { EnetError } from '../errors.ts'
import { heartbeatData, ZINX_PING_MSGID } from '../wire/heartbeat.ts'
import type { CloseReason, Payload } from '../types.ts'

export interface ReconnectOptions {
  initialMs?: number
  maxMs?: number
  factor?: number
  /** 0.5 spreads each delay uniformly over ±50%. */
  jitter?: number
  /**
   * A connection that stayed up this long resets the backoff; one that drops
   * sooner counts as a failed attempt (a server that accepts and closes at
   * once is not hammered). Default 1000.
   */
  stableMs?: number
}

export interface ClientOptions {
  /** A FrameCodec for tcp:// (default tlv-be), a DatagramCodec for udp:// (default enet). */
  codec?: FrameCodec | DatagramCodec
  /** Largest data size accepted from the server; default 1 MiB. */
  maxPacketSize?: number
  /** TCP, TLS and WebSocket; default on: 100 ms, ×2, at most 5 s, ±50% jitter. */
  reconnect?: boolean | ReconnectOptions
  /** tls:// and wss://: how to check the server and what to show it (Node's tls.connect options). */
  tls?: TlsClientOptions
  /** Bytes sent while not connected wait here up to this bound, and bytes the server has not read yet may reach it; default 1 MiB. */
  maxQueuedBytes?: number
  /**
   * UDP only: prove this client's address to a server in strict mode (a cookie
   * round trip) before ready() resolves. Unasked challenges are answered anyway.
   */
  validateAddress?: boolean
  /**
   * A server's heartbeat ping (msgId pingMsgId, default 99999 as in zinx) is
   * answered with the same msgId and zinx's `heartbeat [local->remote]` text,
   * and not emitted as a message. false: pings are ordinary messages.
   */
  heartbeat?: false | { pingMsgId?: number }
}

export interface TlsClientOptions {
  /** CA certificates to trust instead of the system's (a self-signed server's certificate, say). */
  ca?: string | Buffer | Array<string | Buffer>
  /** The name the server's certificate must carry; default the URL's host. */
  servername?: string
  /** Default true; false accepts any certificate (tests against a throwaway one, never production). */
  rejectUnauthorized?: boolean
  /** A client certificate and key, for a server that asks for one (tls.ca on the server). */
  cert?: string | Buffer
  key?: string | Buffer
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

export interface Pending {
  /** The connection its frame went out on (numbered from 1); a request queued while down belongs to the next. */
  conn: number
  replyId: number
  timeoutMs: number
  resolve(m: Message): void
  reject(e: Error): void
  timer: NodeJS.Timeout | undefined
  /** Its frame, while it waits in the queue for a connection. */
  queued: Buffer | null
}

export const MiB = 1024 * 1024

export abstract class Client extends EventEmitter<ClientEvents> {
  abstract readonly protocol: 'tcp' | 'tls' | 'ws' | 'udp'
  abstract readonly localPort: number | undefined
  connected = false
  /** Set by close(), or when a connection is lost for good (no reconnect). */
  protected ended: EnetError | null = null
  protected readonly maxPacketSize: number
  private readonly maxQueuedBytes: number
  /** -1: pings are not answered. */
  private readonly pingMsgId: number
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
    const hb = opts.heartbeat ?? {}
    if (hb !== false && hb.pingMsgId !== undefined) assertMsgId(hb.pingMsgId)
    this.pingMsgId = hb === false ? -1 : (hb.pingMsgId ?? ZINX_PING_MSGID)
  }

  /** Resolves once connected (TCP) or bound (UDP). */
  ready(): Promise<void> {
    if (this.connected) return Promise.resolve()
    if (this.ended) return Promise.reject(this.ended)
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }))
  }

  send(msgId: number, data?: Payload): void {
    this.sendFrame(msgId, data)
  }

  /** Writes the frame, or queues it while down and returns it. */
  private sendFrame(msgId: number, data?: Payload): Buffer | null {
    assertMsgId(msgId)
    const frame = this.encode(msgId, toBuffer(data))
    if (this.connected) {
      // A server that stops reading must not grow this process without bound
      // either. Judged before the write, as the server does: one frame larger
      // than the bound still goes to a server that reads.
      if (this.unsent > this.maxQueuedBytes) {
        throw new EnetError('ENET_ERR_NOT_CONNECTED', [`${this.url} (${this.unsent} bytes not taken by the server; maxQueuedBytes ${this.maxQueuedBytes})`])
      }
      this.write(frame)
      return null
    }
    if (this.ended) throw this.ended
    if (this.queuedBytes + frame.length > this.maxQueuedBytes) {
      throw new EnetError('ENET_ERR_NOT_CONNECTED', [`${this.url} (send queue full at ${this.maxQueuedBytes} bytes)`])
    }
    this.queue.push(frame)
    this.queuedBytes += frame.length
    return frame
  }

  request(msgId: number, data?: Payload, opts: RequestOptions = {}): Promise<Message> {
    const replyId = opts.replyId ?? msgId
    const timeoutMs = opts.timeoutMs ?? 5000
    let queued: Buffer | null
    try {
      assertMsgId(replyId)
      queued = this.sendFrame(msgId, data)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { conn: queued ? this.conns + 1 : this.conns, replyId, timeoutMs, resolve, reject, timer: undefined, queued }
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

  /** Bytes written while connected that the network has not taken yet. */
  protected abstract get unsent(): number
  protected abstract encode(msgId: number, data: Buffer): Buffer
  protected abstract write(frame: Buffer): void
  protected abstract shutdown(): Promise<void>

  protected opened(): void {
    this.conns++
    this.connected = true
    const queue = this.queue
    this.queue = []
    this.queuedBytes = 0
    for (const list of this.waiting.values()) for (const p of list) p.queued = null
    for (const frame of queue) this.write(frame)
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const w of waiters) w.resolve()
    this.emit('connect')
  }

  /** This end and the server's, as the socket sees them: the text of a heartbeat answer. Transports that know better override it. */
  protected get endpoints(): { local: { address: string; port: number }; remote: { address: string; port: number } } {
    return { local: { address: '0.0.0.0', port: this.localPort ?? 0 }, remote: { address: this.host, port: this.port } }
  }

  protected received(msgId: number, data: Buffer): void {
    if (msgId === this.pingMsgId) {
      // The answer is the frame a zinx client's own heartbeat sends.
      if (this.connected) {
        const { local, remote } = this.endpoints
        this.write(this.encode(msgId, Buffer.from(heartbeatData(local, remote))))
      }
      return
    }
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
    // Still queued: it must not go out later, where its reply would answer the next request.
    const q = p.queued ? this.queue.indexOf(p.queued) : -1
    if (q >= 0) {
      this.queue.splice(q, 1)
      this.queuedBytes -= p.queued!.length
    }
    p.reject(new EnetError('ENET_ERR_REQUEST_TIMEOUT', [p.replyId, p.timeoutMs]))
  }
}
