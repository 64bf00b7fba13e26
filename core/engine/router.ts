// msgId → route. Each route is owned ('app' or 'plugin:<name>'); an owner's
// routes are replaced in one synchronous step, so a request sees either the
// old set or the new one, never a mix.
import { assertMsgId } from '../wire/codec.ts'
import { COOKIE_CHALLENGE, COOKIE_REQUEST } from '../wire/cookie.ts'
import { EnetError } from '../errors.ts'
import { chain, isChain, splitChain } from './middleware.ts'
import type { Handler, HandlerResult, RateLimit, Request, RouteDefinition, RouteTable } from '../types.ts'

/** Counts a plugin version's running requests so it can be drained before dispose. */
export interface InflightTracker {
  inflight: number
  idle(): void
}

export interface Route {
  readonly msgId: number
  readonly owner: string
  readonly run: Handler
  readonly concurrent: boolean
  /** 0: the server's handlerTimeoutMs. */
  readonly timeoutMs: number
  /** Per source IP over UDP; null: none declared. */
  readonly rate: RateLimit | null
  readonly tracker: InflightTracker | null
  /**
   * The recorder's counts for this msgId, cached by the dispatcher at the
   * route's first request under a recorder (null until then): a success
   * that is not timed is one increment, not a Map lookup.
   */
  counts: { ok: number } | null
}

const isThenable = (v: unknown): v is PromiseLike<void> =>
  typeof v === 'object' && v !== null && typeof (v as PromiseLike<void>).then === 'function'

/** pre → handle → post; stays synchronous unless a step returns a promise. */
function compose(steps: Handler[]): Handler {
  if (steps.length === 1) return steps[0]!
  const from = (i: number, req: Request): HandlerResult => {
    for (; i < steps.length; i++) {
      const r = steps[i]!(req)
      if (isThenable(r)) {
        const nextStep = i + 1
        return Promise.resolve(r).then(() => from(nextStep, req))
      }
    }
  }
  return (req) => from(0, req)
}

export function compileRoute(msgId: number, def: RouteDefinition, owner: string, tracker: InflightTracker | null = null): Route {
  try {
    assertMsgId(msgId)
  } catch (err) {
    throw new EnetError('ENET_ERR_ROUTE_INVALID', [msgId, owner, (err as Error).message])
  }
  const bad = (what: string) => new EnetError('ENET_ERR_ROUTE_INVALID', [msgId, owner, what])
  if (msgId >= COOKIE_CHALLENGE && msgId <= COOKIE_REQUEST) throw bad('msgIds 0xFFFFFF00-0xFFFFFF02 are reserved for UDP address validation')
  if (isChain(def)) {
    const { middleware, leaf, bad: wrong } = splitChain(def)
    if (wrong !== null) throw bad(wrong)
    const route = compileRoute(msgId, leaf, owner, tracker)
    // No middleware: the route's own handler, unwrapped (the bench holds this to no cost).
    return middleware.length === 0 ? route : { ...route, run: chain(middleware, route.run, msgId, owner) }
  }
  if (typeof def === 'function') return { msgId, owner, run: def, concurrent: false, timeoutMs: 0, rate: null, tracker, counts: null }
  if (typeof def !== 'object' || def === null || typeof def.handle !== 'function') {
    throw bad(`expected a function, { handle(req) } or [...middleware, route], got ${def === null ? 'null' : typeof def}`)
  }
  for (const k of ['preHandle', 'postHandle'] as const) {
    if (def[k] !== undefined && typeof def[k] !== 'function') throw bad(`${k} must be a function`)
  }
  if (def.timeoutMs !== undefined && !(Number.isInteger(def.timeoutMs) && def.timeoutMs > 0)) {
    throw bad(`timeoutMs must be a positive integer, got ${def.timeoutMs}`)
  }
  const rate = def.rate === undefined ? null : checkRate(def.rate)
  if (typeof rate === 'string') throw bad(rate)
  const steps = [def.preHandle, def.handle, def.postHandle].filter((s): s is Handler => typeof s === 'function')
  const bound = steps.map((s) => s.bind(def))
  return { msgId, owner, run: compose(bound), concurrent: def.concurrent === true, timeoutMs: def.timeoutMs ?? 0, rate, tracker, counts: null }
}

/** A valid `{ perSec, burst }`, or what is wrong with it. */
function checkRate(rate: unknown): RateLimit | string {
  const r = rate as RateLimit
  const positive = (v: unknown) => Number.isInteger(v) && (v as number) > 0
  if (typeof rate !== 'object' || rate === null || !positive(r.perSec) || !positive(r.burst)) {
    return `rate must be { perSec, burst } with positive integers, got ${JSON.stringify(rate)}`
  }
  if (r.tcp !== undefined && typeof r.tcp !== 'boolean') return `rate.tcp must be a boolean, got ${JSON.stringify(r.tcp)}`
  return r.tcp === true ? { perSec: r.perSec, burst: r.burst, tcp: true } : { perSec: r.perSec, burst: r.burst }
}

/** A table's routes; `rates` (a plugin's `rateLimits`) adds a rate to routes of the table, and names only those. */
export function compileTable(table: RouteTable, owner: string, tracker: InflightTracker | null = null, rates: Record<number, RateLimit> = {}): Route[] {
  if (typeof table !== 'object' || table === null) throw new EnetError('ENET_ERR_ROUTE_INVALID', ['(table)', owner, 'routes must be an object of msgId → handler'])
  const routes = Object.entries(table).map(([k, def]) => compileRoute(Number(k), def, owner, tracker))
  for (const [k, rate] of Object.entries(rates)) {
    const i = routes.findIndex((r) => r.msgId === Number(k))
    if (i < 0) throw new EnetError('ENET_ERR_ROUTE_INVALID', [k, owner, 'rateLimits names a msgId this plugin does not route'])
    const checked = checkRate(rate)
    if (typeof checked === 'string') throw new EnetError('ENET_ERR_ROUTE_INVALID', [k, owner, `rateLimits: ${checked}`])
    routes[i] = { ...routes[i]!, rate: checked }
  }
  return routes
}

export class Router {
  private readonly routes = new Map<number, Route>()

  get(msgId: number): Route | undefined {
    return this.routes.get(msgId)
  }

  add(route: Route): void {
    const cur = this.routes.get(route.msgId)
    if (cur) throw new EnetError('ENET_ERR_ROUTE_DUPLICATE', [route.msgId, cur.owner, route.owner])
    this.routes.set(route.msgId, route)
  }

  /** msgIds of `next` already taken by another owner, as error text; empty when free. */
  clashes(next: Route[], owner: string): string[] {
    const out: string[] = []
    for (const r of next) {
      const cur = this.routes.get(r.msgId)
      if (cur && cur.owner !== owner) out.push(`msgId ${r.msgId} is already routed by ${cur.owner}`)
    }
    return out
  }

  /** Replace every route of `owner` with `next`, atomically. Throws on a clash and changes nothing. */
  replace(owner: string, next: Route[]): void {
    this.assertFree(next, owner)
    this.removeOwner(owner)
    for (const r of next) this.routes.set(r.msgId, r)
  }

  removeOwner(owner: string): number {
    let n = 0
    for (const [id, r] of this.routes) {
      if (r.owner === owner) {
        this.routes.delete(id)
        n++
      }
    }
    return n
  }

  list(): Route[] {
    return [...this.routes.values()].sort((a, b) => a.msgId - b.msgId)
  }

  private assertFree(next: Route[], owner: string): void {
    const seen = new Set<number>()
    for (const r of next) {
      const cur = this.routes.get(r.msgId)
      if (cur && cur.owner !== owner) throw new EnetError('ENET_ERR_ROUTE_DUPLICATE', [r.msgId, cur.owner, owner])
      if (seen.has(r.msgId)) throw new EnetError('ENET_ERR_ROUTE_DUPLICATE', [r.msgId, owner, owner])
      seen.add(r.msgId)
    }
  }
}
