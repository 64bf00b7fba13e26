// Per-connection ordered dispatch with bounded queues, handler timeouts and
// the hooks around each request. A handler that returns synchronously never
// touches a promise, a timer or the queue: that is the fast path.
import type { Logger } from 'pino'
import type { BaseConnection } from './connection.ts'
import type { EnetConfig } from '../config.ts'
import { EnetError, describe, toError } from '../errors.ts'
import { callHook, type ServerHooks } from '../hooks.ts'
import type { RateLimitedLog } from './log-limit.ts'
import { rateInForce, type SourceRates } from './source-rates.ts'
import type { Route, Router } from './router.ts'
import type { Outcome, Payload, RateLimit, RemoteAddress, Request } from '../types.ts'

export function createCounters() {
  return {
    requests: 0,
    failed: 0,
    timedOut: 0,
    bailed: 0,
    'drop.unknown-msgid': 0,
    'drop.queue-full': 0,
    'drop.short-datagram': 0,
    'drop.oversized-datagram': 0,
    'drop.bad-datagram': 0,
    'drop.max-peers': 0,
    'drop.udp-intake': 0,
    'drop.rate-limit': 0,
    'drop.udp-reply-budget': 0,
    'drop.udp-unproven-budget': 0,
    'drop.peers-per-source': 0,
    'refused.max-conn': 0,
    'refused.max-conn-per-ip': 0,
    'refused.tls-handshake': 0,
    'closed.frame-too-large': 0,
    'closed.frame-timeout': 0,
    'closed.idle-timeout': 0,
    'closed.one-shot-timeout': 0,
    'closed.slow-consumer': 0,
    'closed.outbound-budget': 0,
    'closed.peer-evicted': 0,
    'closed.not-alive': 0,
    'heartbeat.pings': 0,
    /** Errors from plugin code outside any request, contained (runtime/plugin/supervisor.ts). */
    'faults.plugin': 0,
  }
}
export type CounterName = keyof ReturnType<typeof createCounters>

const RUNNING = 0
const DONE = 1
const TIMED_OUT = 2

class Req implements Request {
  state = RUNNING
  timer: NodeJS.Timeout | undefined = undefined
  /** inject() waits on this. */
  onSettle: (() => void) | undefined = undefined
  constructor(
    readonly conn: BaseConnection,
    readonly msgId: number,
    readonly data: Buffer,
  ) {}
  get remote(): RemoteAddress {
    return this.conn.remote
  }
  text(): string {
    return this.data.toString('utf8')
  }
  reply(msgId: number, data?: Payload): boolean {
    // A timed-out request already failed; a late answer would confuse the peer.
    if (this.state === TIMED_OUT) return false
    return this.conn.send(msgId, data)
  }
}

/** Told of every handled request (the metrics' counts and durations); `ms` is NaN when it was not timed. */
export interface RequestRecorder {
  record(msgId: number, status: Outcome['status'], ms: number): void
  /** The counts of `msgId`, the same object every time: the dispatcher counts a success it did not time into it directly. */
  counts(msgId: number): { ok: number }
}

/**
 * With a recorder and no afterHandle tap, one synchronous request in
 * TIME_MASK + 1 is timed (async ones always are: they pay for a timer
 * anyway). A clock read costs 60 ns to 0.2 µs on the 2-core machines CI
 * uses, up to a third of a whole echo request: the two of every request made
 * metrics cost 20 % of throughput (bench --metrics). One in 16 was still 2 %
 * of a request's CPU in a profile; one in 64 is half a percent, and still
 * some 15,000 samples a second at the bench's rate.
 */
const TIME_MASK = 63

const isThenable = (v: unknown): v is PromiseLike<void> =>
  typeof v === 'object' && v !== null && typeof (v as PromiseLike<void>).then === 'function'

export interface DispatchDeps {
  router: Router
  hooks: ServerHooks
  counters: ReturnType<typeof createCounters>
  rlog: RateLimitedLog
  rates: SourceRates
  log: () => Logger
}

export class Dispatcher {
  /** Async requests running across all connections. */
  active = 0
  /** Bytes held by queued requests across all connections (limits.maxInboundTotalBytes). */
  queuedBytes = 0
  private rec: RequestRecorder | null = null
  private untimed = 0
  private idleWaiters: Array<() => void> = []

  constructor(
    private readonly deps: DispatchDeps,
    public config: EnetConfig,
  ) {}

  /** Set by the metrics (core/runtime/observe): null costs one property read per request. */
  get recorder(): RequestRecorder | null {
    return this.rec
  }

  set recorder(r: RequestRecorder | null) {
    this.rec = r
    // Counts cached on the routes belong to the recorder they came from.
    for (const route of this.deps.router.list()) route.counts = null
  }

  /** A decoded frame arrives. The caller has checked `conn.load` against the bound; UDP, which looked the route up for its rate, passes it. */
  deliver(conn: BaseConnection, msgId: number, data: Buffer, route: Route | undefined = this.deps.router.get(msgId)): void {
    if (conn.closed) return
    this.deps.counters.requests++
    // A rate marked `tcp` holds over TCP, TLS and WebSocket too (UDP checks rates before it makes a session).
    if (route !== undefined && route.rate !== null && route.rate.tcp === true && conn.protocol !== 'udp' && !this.withinRate(conn, msgId, route.rate)) return
    if (route !== undefined && (route.concurrent || (!conn.running && conn.qHead === conn.queue.length))) this.start(conn, msgId, data, route)
    else if (route === undefined && !conn.running) this.unknown(conn, msgId)
    // Behind a running request even an unknown msgId waits, so replies keep arrival order.
    // A queued request holds its own copy: a view would keep the whole socket read alive, uncounted.
    else {
      conn.enqueue(msgId, Buffer.from(data))
      conn.queuedBytes += data.length
      this.queuedBytes += data.length
    }
  }

  /** Run the whole path without a socket; resolves when the request has settled. */
  run(conn: BaseConnection, msgId: number, data: Buffer): Promise<void> {
    const route = this.deps.router.get(msgId)
    if (route === undefined) {
      this.unknown(conn, msgId)
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const req = this.start(conn, msgId, data, route)
      if (req === null || req.state !== RUNNING) resolve()
      else req.onSettle = resolve
    })
  }

  // What every request runs is kept small, the rare paths (guards, timing,
  // failures) in methods of their own. With the recorder's lines inline,
  // bench --metrics gave 0.92x (16 pairs) where the recorder's own work is
  // half a percent of a request (measured apart); after, 0.94-0.98x in
  // three runs, as with the recorder off (most likely more of the reply
  // path is inlined into the read loop when this is small).
  private start(conn: BaseConnection, msgId: number, data: Buffer, route: Route): Req | null {
    const req = new Req(conn, msgId, data)
    const hooks = this.deps.hooks
    if (hooks.beforeHandle.taps.length > 0 && this.bails(req)) return null
    const rec = this.rec
    const t0 = hooks.afterHandle.taps.length > 0 || (rec !== null && (this.untimed = (this.untimed + 1) & TIME_MASK) === 0) ? performance.now() : 0
    let result: unknown
    try {
      result = route.run(req)
    } catch (err) {
      req.state = DONE
      this.fail(req, route, 'error', err, t0)
      return req
    }
    if (isThenable(result)) {
      // The outcome's ms counts from the handler's start, its synchronous part included.
      this.track(req, route, result, t0 || performance.now())
      return req
    }
    req.state = DONE
    if (t0 !== 0) this.timedOk(req, t0)
    else if (rec !== null) {
      const counts = route.counts
      if (counts !== null) counts.ok++
      else (route.counts = rec.counts(msgId)).ok++
    }
    return req
  }

  /** beforeHandle's verdict: true when a tap stopped the request (counted as bailed). */
  private bails(req: Req): boolean {
    let verdict: unknown
    try {
      verdict = this.deps.hooks.beforeHandle.call(req)
    } catch (err) {
      // A guard that throws fails closed: the request does not run.
      this.deps.rlog.error('hook:beforeHandle', { err, hook: 'beforeHandle', msgId: req.msgId }, 'beforeHandle tap threw; request stopped')
      verdict = err
    }
    if (isThenable(verdict)) {
      // An async guard cannot be awaited here (beforeHandle is synchronous by
      // design); its promise would bail every request without a word.
      verdict.then(undefined, () => {})
      this.deps.rlog.error('hook:beforeHandle-async', { hook: 'beforeHandle', msgId: req.msgId }, 'beforeHandle tap returned a Promise; beforeHandle is synchronous (use a route preHandle for async checks): request stopped')
    }
    if (verdict === undefined) return false
    this.deps.counters.bailed++
    return true
  }

  /** A success that was timed (every async one, a sync one in TIME_MASK + 1): afterHandle taps and the recorder hear of it. */
  private timedOk(req: Req, t0: number): void {
    const ms = performance.now() - t0
    if (this.deps.hooks.afterHandle.taps.length > 0) this.after(req, { status: 'ok', ms })
    this.rec?.record(req.msgId, 'ok', ms)
  }

  private track(req: Req, route: Route, result: PromiseLike<void>, t0: number): void {
    const conn = req.conn
    conn.active++
    if (!route.concurrent) conn.running = true
    if (route.tracker) route.tracker.inflight++
    this.active++
    const ms = route.timeoutMs || this.config.limits.handlerTimeoutMs
    req.timer = setTimeout(() => this.settle(req, route, t0, 'timeout', new EnetError('ENET_ERR_HANDLER_TIMEOUT', [req.msgId, route.owner, ms])), ms)
    // A handler abandoned at shutdown must not hold the process open.
    req.timer.unref()
    result.then(
      () => this.settle(req, route, t0, 'ok', undefined),
      (err) => this.settle(req, route, t0, 'error', err),
    )
  }

  private settle(req: Req, route: Route, t0: number, status: Outcome['status'], err: unknown): void {
    if (req.state !== RUNNING) return
    req.state = status === 'timeout' ? TIMED_OUT : DONE
    clearTimeout(req.timer)
    const conn = req.conn
    conn.active--
    if (!route.concurrent) conn.running = false
    const tracker = route.tracker
    if (tracker && --tracker.inflight === 0) tracker.idle()
    if (status === 'ok') {
      if (this.deps.hooks.afterHandle.taps.length > 0 || this.rec !== null) this.timedOk(req, t0)
    } else {
      this.fail(req, route, status, err, t0)
    }
    req.onSettle?.()
    this.active--
    // Queued requests start before idleness is judged: a drain waits for them too.
    this.pump(conn)
    if (this.active === 0 && this.idleWaiters.length) for (const w of this.idleWaiters.splice(0)) w()
  }

  /** Start queued requests of a connection until one has to wait. */
  pump(conn: BaseConnection): void {
    const q = conn.queue
    while (!conn.running && conn.qHead < q.length && !conn.closed) {
      const next = q[conn.qHead]!
      q[conn.qHead++] = undefined as never
      conn.queuedBytes -= next.data.length
      this.queuedBytes -= next.data.length
      if (conn.qHead === q.length) {
        q.length = 0
        conn.qHead = 0
      }
      // Looked up again: a plugin swapped since arrival serves this request.
      const route = this.deps.router.get(next.msgId)
      if (route === undefined) this.unknown(conn, next.msgId)
      else this.start(conn, next.msgId, next.data, route)
    }
    if (!this.full(conn)) conn.roomAgain()
  }

  /**
   * No more requests from `conn` for now: maxInflightPerConn queued or
   * running, or maxInboundBytes of data queued, or (while it holds some)
   * maxInboundTotalBytes queued server-wide. TCP stops reading, UDP drops;
   * a connection that holds nothing queued is never held up by the others.
   */
  full(conn: BaseConnection): boolean {
    const { maxInflightPerConn, maxInboundBytes, maxInboundTotalBytes } = this.config.limits
    return conn.load >= maxInflightPerConn || (conn.queuedBytes > 0 && (conn.queuedBytes >= maxInboundBytes || this.queuedBytes >= maxInboundTotalBytes))
  }

  /** A connection ended: what its queue held is no longer held. */
  forget(conn: BaseConnection): void {
    this.queuedBytes -= conn.queuedBytes
    conn.queuedBytes = 0
  }

  private fail(req: Req, route: Route, status: 'error' | 'timeout', err: unknown, t0: number): void {
    const c = this.deps.counters
    if (status === 'timeout') c.timedOut++
    else c.failed++
    const error =
      err instanceof EnetError
        ? err
        : new EnetError('ENET_ERR_HANDLER', [req.msgId, route.owner, describe(err)], { cause: toError(err) })
    const ms = t0 === 0 ? 0 : performance.now() - t0
    // The one line for this failure, stack included: the logging plugin does not repeat it.
    const conn = req.conn
    const line = { err: error, msgId: req.msgId, owner: route.owner, outcome: status, bytes: req.data.length, ms: Math.round(ms * 100) / 100, conn: conn.id, protocol: conn.protocol, remote: `${conn.remote.address}:${conn.remote.port}` }
    if (status === 'timeout') this.deps.rlog.warn(`handler:${route.owner}`, line, error.message)
    else this.deps.rlog.error(`handler:${route.owner}`, line, error.message)
    const replyId = this.config.errorReplyId
    if (replyId !== null && !conn.closed) conn.send(replyId, `${error.code}: ${error.message}`)
    if (this.deps.hooks.afterHandle.taps.length > 0) this.after(req, { status, ms, error })
    this.rec?.record(req.msgId, status, t0 === 0 ? NaN : ms)
  }

  private after(req: Req, outcome: Outcome): void {
    callHook(this.deps.hooks, 'afterHandle', this.deps.log(), req, outcome)
  }

  private withinRate(conn: BaseConnection, msgId: number, declared: RateLimit): boolean {
    const rate = rateInForce(this.config.udp.rateLimits, msgId, declared)
    if (rate === null || this.deps.rates.allow(conn.remote.address, msgId, rate)) return true
    this.deps.counters['drop.rate-limit']++
    this.deps.rlog.warn('tcp:rate-limit', { msgId, conn: conn.id, remote: `${conn.remote.address}:${conn.remote.port}` }, 'request dropped: rate-limit')
    this.drop('rate-limit', conn, msgId)
    return false
  }

  unknown(conn: BaseConnection, msgId: number): void {
    this.deps.counters['drop.unknown-msgid']++
    this.deps.rlog.warn('unknown-msgid', { msgId, conn: conn.id, remote: `${conn.remote.address}:${conn.remote.port}` }, 'unknown msgId dropped')
    this.drop('unknown-msgid', conn, msgId)
    const replyId = this.config.unknownMsgReplyId
    if (replyId !== null) conn.send(replyId, `unknown msgId ${msgId}`)
  }

  drop(reason: string, conn?: BaseConnection, msgId?: number, remote?: string): void {
    if (this.deps.hooks.onDrop.taps.length > 0) callHook(this.deps.hooks, 'onDrop', this.deps.log(), { reason, conn, msgId, remote })
  }

  /** Resolves true once no async request runs, false if `ms` passes first. */
  whenIdle(ms: number): Promise<boolean> {
    if (this.active === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done)
        resolve(false)
      }, ms)
      const done = () => {
        clearTimeout(timer)
        resolve(true)
      }
      this.idleWaiters.push(done)
    })
  }
}
