// What every connection shares, whatever carries it: identity, properties,
// the once-only close, and the counters dispatch uses for its bounds.
import type { EnetConfig } from '../config.ts'
import type { CloseReason, Connection, Payload, Protocol, RemoteAddress } from '../types.ts'

export interface ConnectionOwner {
  /** Called exactly once, when the connection ends. */
  connectionClosed(conn: BaseConnection, reason: CloseReason): void
}

let nextId = 1

/**
 * The clock of lastActive and partialSince and of the sweeps that read them:
 * monotonic, so a wall-clock step cannot expire every connection at once, in
 * whole milliseconds since the process started. Math.floor keeps it a small
 * integer (a Smi, up to 2^31 on 64-bit Node: 24 days of uptime), where
 * performance.now() was a 16-byte heap number in every connection (bench/
 * accept); past that it is a heap number again, as correct. Never 0 (which
 * partialSince means as none): the core loads milliseconds after the start.
 * `now` is a performance.now() the caller already read (UDP, per datagram).
 */
export function clock(now = performance.now()): number {
  return Math.floor(now)
}

type QueuedRequest = { msgId: number; data: Buffer }
type Ending = { promise: Promise<CloseReason>; resolve: ((reason: CloseReason) => void) | undefined }
/**
 * The queue of every connection that has had no request wait: frozen, so a
 * push anywhere but enqueue() throws. An array per connection was 32 bytes of
 * an idle one's heap (bench/ accept).
 */
const NO_QUEUE: QueuedRequest[] = Object.freeze([]) as unknown as QueuedRequest[]

export abstract class BaseConnection implements Connection {
  readonly id = nextId++
  abstract readonly protocol: Protocol
  closed = false
  /** Requests waiting in order behind a running one (enqueue() adds them). */
  queue: QueuedRequest[] = NO_QUEUE
  qHead = 0
  /** Bytes of data the queue holds (limits.maxInboundBytes); the dispatcher keeps the count. */
  queuedBytes = 0
  /** An ordered request is running asynchronously; the queue waits for it. */
  running = false
  /** Async requests running now (ordered and concurrent). */
  active = 0
  /** clock() when bytes last arrived. */
  lastActive = clock()
  private props: Map<string, unknown> | undefined
  // `done` is made on first use: most connections are never awaited, and an
  // idle connection's bytes are what 10,000 of them multiply (bench/). One
  // field holds its three states, 16 bytes less than a field each: open and
  // not awaited (undefined), closed before anyone asked (the reason), asked.
  private ending: CloseReason | Ending | undefined

  get done(): Promise<CloseReason> {
    const e = this.ending
    if (typeof e === 'object') return e.promise
    let resolve: ((reason: CloseReason) => void) | undefined
    const promise = e !== undefined ? Promise.resolve(e) : new Promise<CloseReason>((r) => (resolve = r))
    this.ending = { promise, resolve }
    return promise
  }

  abstract readonly remote: RemoteAddress

  constructor(protected readonly owner: ConnectionOwner) {}

  /** The peer's IP address, what the per-IP count keys on; a transport may read it without making `remote`. */
  get remoteAddress(): string {
    return this.remote.address
  }

  /** A request waits behind a running one. */
  enqueue(msgId: number, data: Buffer): void {
    ;(this.queue === NO_QUEUE ? (this.queue = []) : this.queue).push({ msgId, data })
  }

  /** Requests queued or running: what the in-flight bound counts. */
  get load(): number {
    return this.queue.length - this.qHead + this.active
  }

  /** This side's address, where the transport has one (the heartbeat's ping text names it). */
  get local(): { address: string; port: number } | undefined {
    return undefined
  }

  /** Bytes written and not yet taken by the peer: what the outbound budgets count (none without a stream). */
  get unsent(): number {
    return 0
  }
  /**
   * Bytes of enet frames this connection received and sent, for a transport
   * with one stream per connection (server.ts Traffic says what each counts);
   * UDP counts at its one socket.
   */
  get bytesIn(): number {
    return 0
  }

  get bytesOut(): number {
    return 0
  }


  /**
   * The server's sweep, every period, at `now` (clock()): close this
   * connection if one of its deadlines passed. Every connection has the idle
   * deadline; a transport adds its own (TCP: a half-received frame).
   */
  checkDeadlines(now: number, limits: EnetConfig['limits']): void {
    if (now - this.lastActive > limits.idleTimeoutMs && this.active === 0) this.close('idle-timeout')
  }

  /** New limits from a live config reload, for what the transport holds per connection. */
  limitsChanged(_limits: EnetConfig['limits']): void {}

  abstract send(msgId: number, data?: Payload): boolean
  /** Dispatch has room again below the in-flight bound (TCP resumes reading). */
  roomAgain(): void {}
  /** Release transport resources; `graceful` lets queued output flush first. */
  protected abstract release(reason: CloseReason, graceful: boolean): void

  close(reason: CloseReason = 'server-close'): void {
    if (this.closed) return
    this.closed = true
    this.queue = NO_QUEUE
    this.qHead = 0
    this.release(reason, reason === 'server-close' || reason === 'kicked')
    const asked = this.ending as Ending | undefined
    if (asked === undefined) this.ending = reason
    this.owner.connectionClosed(this, reason)
    asked?.resolve?.(reason)
  }

  get<T = unknown>(key: string): T | undefined {
    return this.props?.get(key) as T | undefined
  }

  set(key: string, value: unknown): void {
    ;(this.props ??= new Map()).set(key, value)
  }

  delete(key: string): boolean {
    return this.props?.delete(key) ?? false
  }

  toJSON() {
    return { id: this.id, protocol: this.protocol, remote: `${this.remote.address}:${this.remote.port}` }
  }
}
