// Pending locates. The table of waiting requests lives in ctx.data, so an
// answer (msgId 21) that arrives after a reload, and is handled by the new
// version, still reaches a locate the old version is running. Waiters and
// their timers belong to the version that made them and end with it.
import type { Logger } from 'pino'
import { SourceQuota } from '@enetjs/enet'
import type { AuthFailure } from '../heartbeat/auth.ts'

/** Called once with the node that claimed the resource, or null (timed out, or released on dispose). */
export type Waiter = (node: string | null) => void

export interface LocatorStats {
  locates: number
  found: number
  notFound: number
  /** Locates that joined a query already out for the same name. */
  coalesced: number
  /** Query waves sent, and datagrams/frames in them. */
  waves: number
  queries: number
  /** Of the queries, those sent as the bare name to a node's announced port (Go producers). */
  rawQueries: number
  answers: number
  /** msgId 21 payloads that were not `resource\nhost:port`. */
  malformed: number
  /** Answers for a name nobody is waiting for (already answered or timed out). */
  late: number
  /** Claims naming a node that is not live (claims: 'live'). */
  notLive: number
  /** Locate requests with an empty, over-long or multi-line name. */
  bad: number
  /** Locates refused because maxPending names were already waiting. */
  busy: number
  /** Claims sent back over the shared registry's bus to the instance that asked. */
  forwarded: number
  /** Locates refused because their source already waited on maxPendingPerSource names of its own. */
  busySource: number
  /** Query waves cut to maxFanout nodes. */
  capped: number
  cacheHits: number
  /** With node authentication: answers dropped, by reason (unsigned ones count as `malformed`). */
  authFailed: Record<AuthFailure, number>
}

export interface LocatorState {
  pending: Map<string, Set<Waiter>>
  /** resource → node that claimed it; only with cacheMs > 0, dropped when the node expires. */
  cache: Map<string, { node: string; until: number }>
  /** name → the query id of the wave out for it (node authentication only): an answer must be signed for it. */
  queryIds: Map<string, string>
  /** name → performance.now() of the last query wave for it. */
  waveAt: Map<string, number>
  /** name → until when (performance.now()) claims for it go back over the bus: another instance asked. */
  forwarded: Map<string, number>
  /** name → the source (IP or IPv6 /64) whose locate put it in `pending`; each source holds a share. */
  owners: Map<string, string>
  quota: SourceQuota
  stats: LocatorStats
}

export function createState(): LocatorState {
  return {
    pending: new Map(),
    cache: new Map(),
    queryIds: new Map(),
    waveAt: new Map(),
    forwarded: new Map(),
    owners: new Map(),
    quota: new SourceQuota(1),
    stats: { locates: 0, found: 0, notFound: 0, coalesced: 0, waves: 0, queries: 0, rawQueries: 0, answers: 0, malformed: 0, late: 0, notLive: 0, bad: 0, busy: 0, busySource: 0, capped: 0, forwarded: 0, cacheHits: 0, authFailed: newAuthFailed() },
  }
}

const newAuthFailed = (): Record<AuthFailure, number> => ({ 'bad-tag': 0, replay: 0, skew: 0, malformed: 0 })

/** A state made by a version of this plugin from before node authentication lacks its fields. */
export function upgradeState(state: LocatorState): LocatorState {
  state.queryIds ??= new Map()
  state.waveAt ??= new Map()
  state.forwarded ??= new Map()
  state.stats.forwarded ??= 0
  state.stats.authFailed ??= newAuthFailed()
  state.stats.notLive ??= 0
  state.stats.rawQueries ??= 0
  state.stats.busySource ??= 0
  state.stats.capped ??= 0
  // Names a version from before per-source quotas left waiting stay unowned: they settle as before.
  state.owners ??= new Map()
  state.quota ??= new SourceQuota(1)
  return state
}

export interface LookupOptions {
  timeoutMs: number
  maxPending: number
  /** Names one source (IP or IPv6 /64) may have waiting at once: its share of maxPending. */
  maxPendingPerSource: number
  cacheMs: number
  maxCache: number
}

export class Lookups {
  /** This version's waiters, so dispose can release exactly them. */
  private readonly mine = new Set<Waiter>()

  constructor(
    readonly state: LocatorState,
    private readonly opts: LookupOptions,
    private readonly log: Logger,
    /** Sends the query for `name` (with its query id when nodes authenticate); returns how many nodes were asked. */
    private readonly ask: (name: string, queryId: string | undefined) => number,
    /** A fresh query id per wave when nodes authenticate, else undefined. */
    private readonly newQueryId: () => string | undefined = () => undefined,
  ) {
    state.quota.limit = opts.maxPendingPerSource
  }

  /** `source`: who asks (sourceOf its address); a name it starts counts against its share. Locates from inside the server pass none. */
  locate(name: string, source?: string): Promise<string | null> {
    const { pending, stats } = this.state
    stats.locates++
    const cached = this.cached(name)
    if (cached !== null) {
      stats.cacheHits++
      stats.found++
      return Promise.resolve(cached)
    }
    let set = pending.get(name)
    if (set === undefined && pending.size >= this.opts.maxPending) {
      stats.busy++
      stats.notFound++
      return Promise.resolve(null)
    }
    if (set === undefined && source !== undefined && !this.state.quota.take(source)) {
      stats.busySource++
      stats.notFound++
      return Promise.resolve(null)
    }
    const fresh = set === undefined
    if (fresh) {
      pending.set(name, (set = new Set()))
      if (source !== undefined) this.state.owners.set(name, source)
    }
    else stats.coalesced++
    const waiters = set!
    // A name asked for without pause never settles: once its wave is a timeout
    // old, ask again, so a node that came up since is asked too.
    const now = performance.now()
    const askNow = fresh || now - (this.state.waveAt.get(name) ?? 0) >= this.opts.timeoutMs
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined
      const waiter: Waiter = (node) => {
        if (!this.mine.delete(waiter)) return
        clearTimeout(timer)
        waiters.delete(waiter)
        if (waiters.size === 0 && pending.get(name) === waiters) this.settle(name)
        if (node === null) stats.notFound++
        else stats.found++
        resolve(node)
      }
      this.mine.add(waiter)
      waiters.add(waiter)
      timer = setTimeout(waiter, this.opts.timeoutMs, null)
      if (!askNow) return
      this.state.waveAt.set(name, now)
      const queryId = this.newQueryId()
      if (queryId !== undefined) this.state.queryIds.set(name, queryId)
      const asked = this.ask(name, queryId)
      stats.waves++
      stats.queries += asked
      this.log.debug({ resource: name, asked }, 'locate query sent')
      // Nobody to ask: waiting out the timeout could not change the answer.
      if (asked === 0) for (const w of [...waiters]) w(null)
    })
  }

  /** A node claims `resource`. Returns how many waiting locates it answered. */
  answer(resource: string, node: string): number {
    const { pending, stats } = this.state
    stats.answers++
    const waiters = pending.get(resource)
    if (waiters === undefined) {
      stats.late++
      return 0
    }
    // First claim wins: later answers for this name find no waiters.
    this.settle(resource)
    if (this.opts.cacheMs > 0) this.remember(resource, node)
    const n = waiters.size
    for (const w of [...waiters]) w(node)
    return n
  }

  /** The query id an answer for `resource` must be signed for; undefined when no signed query is out for it. */
  queryId(resource: string): string | undefined {
    return this.state.queryIds.get(resource)
  }

  /** A node expired: forget what it claimed. */
  forget(node: string): void {
    for (const [resource, c] of this.state.cache) if (c.node === node) this.state.cache.delete(resource)
  }

  /** Release this version's waiters (they answer not-found) and their timers. */
  dispose(): void {
    for (const w of [...this.mine]) w(null)
  }

  get waiting(): number {
    return this.mine.size
  }

  private settle(name: string): void {
    const owner = this.state.owners.get(name)
    if (owner !== undefined) {
      this.state.owners.delete(name)
      this.state.quota.release(owner)
    }
    this.state.pending.delete(name)
    this.state.queryIds.delete(name)
    this.state.waveAt.delete(name)
  }

  private cached(name: string): string | null {
    if (this.opts.cacheMs <= 0) return null
    const c = this.state.cache.get(name)
    if (c === undefined) return null
    if (c.until > Date.now()) return c.node
    this.state.cache.delete(name)
    return null
  }

  private remember(resource: string, node: string): void {
    const cache = this.state.cache
    cache.delete(resource)
    if (cache.size >= this.opts.maxCache) cache.delete(cache.keys().next().value!)
    cache.set(resource, { node, until: Date.now() + this.opts.cacheMs })
  }
}
