// The node registry. Its state is plain data kept in ctx.data, so every
// version of the plugin works on the same nodes and subscribers; the Registry
// object (code and timer) belongs to one version and is rebuilt on reload.
//
// Expiry is precise with one timer: the node map is kept in order of the last
// beat (a refresh deletes and re-inserts), so with one TTL for all nodes the
// first entry is always the next to expire. A beat is O(1); the timer fires at
// the first entry's deadline, expires what is due and re-arms for the next.
//
// With a shared store (store.ts) this registry is the instance's mirror: beats
// taken here are `local`, beats heard from other instances are mirrored with
// the time they have left, and node lists are always served from here.
import type { Logger } from 'pino'
import { SourceQuota, sourceOf, type Protocol, type RateLimitedLog } from '@enetjs/enet'
import { ReplayCache, type AuthFailure } from './auth.ts'
import { listen } from './listeners.ts'

export type NodeProtocol = Protocol

/** Where a node's beat came from: where the locator sends its queries. */
export interface NodeSource {
  readonly protocol: NodeProtocol
  readonly address: string
  readonly port: number
  /** The server-side connection that carried the beat (TCP, TLS and WebSocket queries go back over it while it is open). */
  readonly connId: number
}

/**
 * How a node's beats arrive, judged from its last beats: `kept` — the last
 * two came from one address, a socket that stays open (enet's producers: it
 * gets its queries there); `per-beat` — each of the last two came from a new
 * source port, a socket opened per beat and closed (Go enet's producers: the
 * beat-from port is dead, queries go to the announced port); `unknown` — one
 * beat so far, or the source just changed.
 */
export type BeatSocket = 'kept' | 'per-beat' | 'unknown'

export interface NodeInfo {
  /** `host:port` as the node announced it. */
  readonly node: string
  readonly from: NodeSource
  readonly socket: BeatSocket
  /** Wall-clock ms of the first and the latest beat. */
  readonly firstSeen: number
  readonly lastSeen: number
  /** Time left before the node expires, if it stays silent. */
  readonly expiresInMs: number
  /** Its beats reach this instance (false: mirrored from another instance through the store). */
  readonly local: boolean
}

export interface ExpiredEvent {
  readonly node: string
  readonly from: NodeSource
  readonly silentMs: number
}

export interface HeartbeatEvents {
  registered: NodeInfo
  expired: ExpiredEvent
}

export type HeartbeatEventName = keyof HeartbeatEvents
type Listener<E extends HeartbeatEventName> = (event: HeartbeatEvents[E]) => void

export interface HeartbeatStats {
  registered: number
  refreshed: number
  expired: number
  /** New nodes turned away because maxNodes were live. */
  refused: number
  /** New nodes turned away because their source already had maxNodesPerSource live. */
  refusedSource: number
  /** Payloads of msgId 10 that were not a valid `host:port`. */
  bad: number
  /** With a secret: beats dropped, by reason (unsigned beats count as `malformed`). */
  authFailed: Record<AuthFailure, number>
}

interface Entry {
  node: string
  from: NodeSource
  firstSeen: number
  lastSeen: number
  /** performance.now() of the latest beat: monotonic, shared by every version in the process. */
  beatAt: number
  /** Consecutive beats from another source than the beat before; 0 after one from the same (absent in entries of older versions). */
  moves?: number
  /** Two beats in a row came from one source. */
  kept?: boolean
  /** The instance its beats reach; null for this one. */
  owner: string | null
  /** The source (IP or IPv6 /64) that registered it here: its slot counts against that source's share. */
  source?: string
}

/** What lives in ctx.data and survives a reload. */
export interface HeartbeatState {
  nodes: Map<string, Entry>
  listeners: { [E in HeartbeatEventName]: Set<Listener<E>> }
  stats: HeartbeatStats
  /** Tags of signed beats and locate answers seen within the skew window (node authentication). */
  replay: ReplayCache
  /** Live nodes per registering source. */
  quota: SourceQuota
}

export function createState(): HeartbeatState {
  return {
    nodes: new Map(),
    listeners: { registered: new Set(), expired: new Set() },
    stats: { registered: 0, refreshed: 0, expired: 0, refused: 0, refusedSource: 0, bad: 0, authFailed: { 'bad-tag': 0, replay: 0, skew: 0, malformed: 0 } },
    replay: new ReplayCache(),
    quota: new SourceQuota(1),
  }
}

/** A state made by a version of this plugin from before node authentication lacks its fields. */
export function upgradeState(state: HeartbeatState): HeartbeatState {
  for (const e of state.nodes.values()) e.owner ??= null
  state.replay ??= new ReplayCache()
  state.stats.authFailed ??= { 'bad-tag': 0, replay: 0, skew: 0, malformed: 0 }
  state.stats.refusedSource ??= 0
  if (!state.quota) {
    // Nodes a version from before per-source quotas registered: counted by the source they beat from.
    state.quota = new SourceQuota(Number.MAX_SAFE_INTEGER)
    for (const e of state.nodes.values()) if (e.owner === null) state.quota.take((e.source = sourceOf(e.from.address)))
  }
  return state
}

export interface RegistryOptions {
  ttlMs: number
  maxNodes: number
  /** Live nodes one source (IP or IPv6 /64) may have registered: its share of maxNodes. */
  maxNodesPerSource: number
}

export type BeatResult = 'registered' | 'refreshed' | 'refused'

export class Registry {
  private timer: NodeJS.Timeout | null = null
  private disposed = false
  /** beatAt of the entry inserted last: a mirrored beat older than it breaks the order (see reorder). */
  private tailAt = -Infinity
  /** A mirrored entry went in out of deadline order; reorder() before the timer relies on it. */
  private unordered = false

  constructor(
    readonly state: HeartbeatState,
    private readonly opts: RegistryOptions,
    private readonly log: Logger,
    private readonly limited: RateLimitedLog,
  ) {
    state.quota.limit = opts.maxNodesPerSource
  }

  get size(): number {
    return this.state.nodes.size
  }

  get ttlMs(): number {
    return this.opts.ttlMs
  }

  beat(node: string, from: NodeSource): BeatResult {
    const { nodes, stats } = this.state
    const now = performance.now()
    const old = nodes.get(node)
    if (old !== undefined) {
      nodes.delete(node)
      const same = old.from.protocol === from.protocol && old.from.address === from.address && old.from.port === from.port
      old.kept = same
      old.moves = same ? 0 : (old.moves ?? 0) + 1
      old.from = from
      old.lastSeen = Date.now()
      old.beatAt = now
      old.owner = null
      nodes.set(node, old)
      this.tailAt = now
      stats.refreshed++
      // The timer is armed for the first entry; it re-arms itself when it fires.
      if (this.timer === null) this.arm()
      return 'refreshed'
    }
    if (nodes.size >= this.opts.maxNodes) {
      stats.refused++
      this.limited.warn('refused', { node, from: `${from.address}:${from.port}`, maxNodes: this.opts.maxNodes, refused: stats.refused }, 'node refused: maxNodes reached')
      return 'refused'
    }
    const source = sourceOf(from.address)
    if (!this.state.quota.take(source)) {
      stats.refusedSource++
      this.limited.warn('refused-source', { node, from: `${from.address}:${from.port}`, maxNodesPerSource: this.opts.maxNodesPerSource, refusedSource: stats.refusedSource }, 'node refused: its source has maxNodesPerSource nodes')
      return 'refused'
    }
    const wall = Date.now()
    const entry: Entry = { node, from, firstSeen: wall, lastSeen: wall, beatAt: now, owner: null, source }
    nodes.set(node, entry)
    this.tailAt = now
    stats.registered++
    this.limited.info('registered', { node, from: `${from.protocol}://${from.address}:${from.port}` }, 'node registered')
    if (this.timer === null) this.arm()
    this.emit('registered', this.info(entry, now))
    return 'registered'
  }

  /**
   * A beat heard from another instance (`owner`), `remainingMs` before it
   * expires there (the TTL for a fresh beat; less for a snapshot or a
   * re-published node). An older beat than the one known here is ignored.
   */
  mirror(node: string, from: NodeSource, owner: string, remainingMs = this.opts.ttlMs): BeatResult | 'stale' {
    const { nodes, stats } = this.state
    const now = performance.now()
    const beatAt = now + Math.min(remainingMs, this.opts.ttlMs) - this.opts.ttlMs
    if (beatAt + this.opts.ttlMs <= now) return 'stale'
    const old = nodes.get(node)
    if (old !== undefined) {
      if (old.beatAt >= beatAt) return 'stale'
      nodes.delete(node)
      old.from = from
      old.owner = owner
      old.lastSeen = Date.now() - Math.round(now - beatAt)
      old.beatAt = beatAt
      this.append(old)
      stats.refreshed++
      return 'refreshed'
    }
    if (nodes.size >= this.opts.maxNodes) {
      stats.refused++
      this.limited.warn('refused', { node, owner, maxNodes: this.opts.maxNodes, refused: stats.refused }, 'node refused: maxNodes reached')
      return 'refused'
    }
    const seen = Date.now() - Math.round(now - beatAt)
    const entry: Entry = { node, from, firstSeen: seen, lastSeen: seen, beatAt, owner }
    this.append(entry)
    stats.registered++
    this.limited.info('registered', { node, owner }, 'node registered (through the store)')
    this.emit('registered', this.info(entry, now))
    return 'registered'
  }

  /** After a batch of mirror() calls: restore deadline order if needed, and make sure the timer runs. */
  settle(): void {
    if (this.unordered) {
      this.unordered = false
      const sorted = [...this.state.nodes.values()].sort((a, b) => a.beatAt - b.beatAt)
      this.state.nodes.clear()
      for (const e of sorted) this.state.nodes.set(e.node, e)
      this.tailAt = sorted.length ? sorted[sorted.length - 1]!.beatAt : -Infinity
      this.arm()
    } else if (this.timer === null) {
      this.arm()
    }
  }

  /**
   * The store expired `node` (no beat reached it within the TTL). Dropped
   * here only if this mirror's own deadline is as good as due: a beat taken
   * here since then is on its way to the store and puts the node back.
   */
  dropIfDue(node: string, slackMs: number): boolean {
    const e = this.state.nodes.get(node)
    if (e === undefined) return false
    const now = performance.now()
    if (e.beatAt + this.opts.ttlMs - now > slackMs) return false
    this.expire(e, now)
    return true
  }

  /** The live nodes whose beats reach this instance, with their age: what it re-publishes to a store that lost them. */
  owned(): Array<{ node: string; from: NodeSource; ageMs: number }> {
    const now = performance.now()
    const out: Array<{ node: string; from: NodeSource; ageMs: number }> = []
    for (const e of this.state.nodes.values()) if (e.owner === null) out.push({ node: e.node, from: e.from, ageMs: Math.max(0, Math.round(now - e.beatAt)) })
    return out
  }

  private append(e: Entry): void {
    this.state.nodes.set(e.node, e)
    if (e.beatAt < this.tailAt) this.unordered = true
    else this.tailAt = e.beatAt
  }

  /** The wire text of msgId 11's reply: every live node followed by one space. */
  listText(): string {
    let out = ''
    for (const node of this.state.nodes.keys()) out += node + ' '
    return out
  }

  /**
   * Page `page` (from 0) of the list, cut at node boundaries to at most
   * `maxBytes`: over UDP the reply fits one datagram, so a spoofed `11`
   * cannot fetch a list hundreds of times its size.
   */
  listPage(maxBytes: number, page: number): string {
    let out = ''
    let bytes = 0
    let current = 0
    for (const node of this.state.nodes.keys()) {
      const len = Buffer.byteLength(node) + 1
      if (bytes + len > maxBytes && bytes > 0) {
        if (current === page) return out
        current++
        out = ''
        bytes = 0
      }
      bytes += len
      if (current === page) out += node + ' '
    }
    return current === page ? out : ''
  }

  nodes(): NodeInfo[] {
    const now = performance.now()
    return [...this.state.nodes.values()].map((e) => this.info(e, now))
  }

  get(node: string): NodeInfo | undefined {
    const e = this.state.nodes.get(node)
    return e && this.info(e, performance.now())
  }

  on<E extends HeartbeatEventName>(event: E, fn: Listener<E>, opts: { signal?: AbortSignal } = {}): () => void {
    const set = this.state.listeners[event] as Set<Listener<E>>
    if (!set) throw new TypeError(`heartbeat: unknown event ${JSON.stringify(event)}; expected "registered" or "expired"`)
    return listen(set, fn, opts.signal)
  }

  /** Expire what is due (a reload may have left nodes past their TTL), then arm for the next deadline. */
  arm(): void {
    if (this.disposed) return
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    const { nodes } = this.state
    const ttl = this.opts.ttlMs
    // Bounded: each pass either removes a node or stops.
    for (const e of nodes.values()) {
      const now = performance.now()
      const left = e.beatAt + ttl - now
      if (left > 0) {
        // Timers may fire up to a millisecond early by this clock; the next pass catches that.
        this.timer = setTimeout(this.fire, Math.ceil(left))
        this.timer.unref()
        return
      }
      this.expire(e, now)
    }
  }

  private expire(e: Entry, now: number): void {
    this.state.nodes.delete(e.node)
    if (e.source !== undefined) this.state.quota.release(e.source)
    this.state.stats.expired++
    const silentMs = Math.round(now - e.beatAt)
    this.log.info({ node: e.node, from: `${e.from.protocol}://${e.from.address}:${e.from.port}`, ...(e.owner !== null && { owner: e.owner }), silentMs, ttlMs: this.opts.ttlMs }, 'node expired')
    this.emit('expired', { node: e.node, from: e.from, silentMs })
  }

  dispose(): void {
    this.disposed = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private readonly fire = (): void => {
    this.timer = null
    this.arm()
  }

  private emit<E extends HeartbeatEventName>(event: E, payload: HeartbeatEvents[E]): void {
    for (const fn of this.state.listeners[event] as Set<Listener<E>>) {
      try {
        fn(payload)
      } catch (err) {
        this.log.error({ err, event }, `heartbeat ${event} listener threw`)
      }
    }
  }

  private info(e: Entry, now: number): NodeInfo {
    const socket: BeatSocket = e.kept === true ? 'kept' : (e.moves ?? 0) >= 2 ? 'per-beat' : 'unknown'
    return { node: e.node, from: e.from, socket, firstSeen: e.firstSeen, lastSeen: e.lastSeen, expiresInMs: Math.max(0, Math.round(e.beatAt + this.opts.ttlMs - now)), local: e.owner === null }
  }
}
