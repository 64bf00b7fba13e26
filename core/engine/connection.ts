// What every connection shares, whatever carries it: identity, properties,
// the once-only close, and the counters dispatch uses for its bounds.
import type { EnetConfig } from '../config.ts'
import type { CloseReason, Connection, Payload, Protocol, RemoteAddress } from '../types.ts'

export interface ConnectionOwner {
  /** Called exactly once, when the connection ends. */
  connectionClosed(conn: BaseConnection, reason: CloseReason): void
}

let nextId = 1

export abstract class BaseConnection implements Connection {
  readonly id = nextId++
  abstract readonly protocol: Protocol
  closed = false
  /** Requests waiting in order behind a running one. */
  queue: Array<{ msgId: number; data: Buffer }> = []
  qHead = 0
  /** Bytes of data the queue holds (limits.maxInboundBytes); the dispatcher keeps the count. */
  queuedBytes = 0
  /** An ordered request is running asynchronously; the queue waits for it. */
  running = false
  /** Async requests running now (ordered and concurrent). */
  active = 0
  /** performance.now() when bytes last arrived: deadlines run on the monotonic clock, so a wall-clock step cannot expire every connection at once. */
  lastActive = performance.now()
  private props: Map<string, unknown> | undefined
  // Made on first use: most connections are never awaited, and an idle
  // connection's bytes are what 10,000 of them multiply (bench/).
  private donePromise: Promise<CloseReason> | undefined
  private resolveDone: ((reason: CloseReason) => void) | undefined
  private closeReason: CloseReason | undefined

  get done(): Promise<CloseReason> {
    if (!this.donePromise) {
      this.donePromise = this.closeReason !== undefined ? Promise.resolve(this.closeReason) : new Promise((r) => (this.resolveDone = r))
    }
    return this.donePromise
  }

  constructor(
    readonly remote: RemoteAddress,
    protected readonly owner: ConnectionOwner,
  ) {}

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
   * The server's sweep, every period: close this connection if one of its
   * deadlines passed. Every connection has the idle deadline; a transport adds
   * its own (TCP: a half-received frame).
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
    this.queue = []
    this.qHead = 0
    this.release(reason, reason === 'server-close' || reason === 'kicked')
    this.closeReason = reason
    this.owner.connectionClosed(this, reason)
    this.resolveDone?.(reason)
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
