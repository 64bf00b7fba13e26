// heartbeat: nodes announce `host:port` (msgId 10); anyone lists the live
// ones (msgId 11 → msgId 10). Dependents get the registry through
// ctx.use('heartbeat'): see HeartbeatApi.
import { definePlugin, rateLimited } from '@enetjs/enet'
import { verifyMessage, type VerifyResult } from './auth.ts'
import { listPageOf, MAX_NODE_LENGTH, MSG, parseNode } from './msg.ts'
import { observe } from './observe.ts'
import { createState, Registry, upgradeState, type HeartbeatEventName, type HeartbeatEvents, type HeartbeatState, type HeartbeatStats, type NodeInfo } from './registry.ts'
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import { ClusterStore } from './cluster-store.ts'
import { BusHub, checkStore, type Bus, type SharedStore } from './store.ts'

export type { Bus } from './store.ts'
export type { BeatSocket, ExpiredEvent, HeartbeatEvents, HeartbeatStats, NodeInfo, NodeSource } from './registry.ts'

/** Node authentication, when a secret is configured: checks a signed payload (docs/auth.md). */
export interface NodeAuth {
  readonly maxSkewMs: number
  /** Tag, clock and replay check of a signed `data` for `msgId`; answers pass the query id they answer. */
  verify(msgId: number, data: Buffer, queryId?: string): VerifyResult
}

/** What `ctx.use('heartbeat')` returns. Look it up per use: a reload of heartbeat replaces it (the nodes and subscriptions stay). */
export interface HeartbeatApi {
  readonly ttlMs: number
  /** Live nodes, oldest beat first. */
  nodes(): NodeInfo[]
  get(node: string): NodeInfo | undefined
  readonly size: number
  /**
   * Subscribe to `registered` or `expired`. Pass `{ signal: ctx.signal }` so the
   * subscription ends with the subscribing plugin version; the returned
   * function also ends it.
   */
  on<E extends HeartbeatEventName>(event: E, fn: (event: HeartbeatEvents[E]) => void, opts?: { signal?: AbortSignal }): () => void
  /** `host:port` validated as msgId 10 validates it, or null. */
  parseNode(text: string): string | null
  /** Null unless `secret` is set; the locator checks its answers with it, so the secret is configured once. */
  readonly auth: NodeAuth | null
  /**
   * Messages to the other instances sharing this registry (Redis, or the
   * workers of `--workers`); null when the registry is this process's alone.
   * Subscriptions survive a reload of heartbeat.
   */
  readonly bus: Bus | null
  /** Counters since the first load, how many subscriptions are live, and the shared store's counters if there is one. */
  stats(): Readonly<HeartbeatStats & { live: number; subscribers: Record<HeartbeatEventName, number>; store?: Record<string, number | boolean | string> }>
}

/** This version's registry, by context: module scope belongs to one version, ctx.data to all. */
const registries = new WeakMap<object, Registry>()
const auths = new WeakMap<object, NodeAuth | null>()
const stores = new WeakMap<object, SharedStore | null>()

/** A store URL as logged: the password never. */
function redacted(url: URL): string {
  const u = new URL(url.href)
  if (u.password) u.password = '***'
  return u.href
}

const defaults = {
  /** A node silent for this long is dropped. */
  ttlMs: 2_500,
  /** Live nodes at most; a new node beyond this is refused (and counted). */
  maxNodes: 1_024,
  /** Live nodes one source (IP or IPv6 /64) may register: a quarter of maxNodes by default, so one host cannot fill the registry. */
  maxNodesPerSource: 256,
  /** The msgId that answers msgId 11. */
  replyId: MSG.listReply as number,
  /**
   * Over UDP the list reply is cut to this many bytes at a node boundary (one
   * datagram; data `page:N` asks for page N). 1020: with the 4-byte header the
   * datagram fits the Go consumer's 1024-byte read buffer.
   */
  udpListBytes: 1_020,
  /** Over TCP the same, in pages of this many bytes (1,024 long names would be ~270 KB for an 8-byte request). */
  tcpListBytes: 65_536,
  /** Node authentication (docs/auth.md): beats and locate answers must be signed with this. Off when unset. */
  secret: undefined as string | undefined,
  /** A signed message whose timestamp is further than this from the server's clock is refused. */
  maxSkewMs: 30_000,
  /** 'memory': this process's registry (shared by the workers of --workers through the primary). 'redis://host:port/db': shared through Redis by every instance that names it. */
  store: 'memory',
  /** Prefix of the Redis keys and channel: instances with the same store and prefix share one registry. */
  storePrefix: 'enet:heartbeat',
}

export default definePlugin<typeof defaults, HeartbeatApi>({
  name: 'heartbeat',
  options: defaults,
  // Per source IP over UDP: a node beats once a second; a lister polls.
  rateLimits: { [MSG.register]: { perSec: 100, burst: 200 }, [MSG.list]: { perSec: 50, burst: 100 } },
  async setup(ctx) {
    const { ttlMs, maxNodes, maxNodesPerSource, secret, maxSkewMs } = ctx.options
    if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new TypeError(`heartbeat: ttlMs must be a positive integer, got ${JSON.stringify(ttlMs)}`)
    if (!Number.isInteger(maxNodes) || maxNodes < 1) throw new TypeError(`heartbeat: maxNodes must be a positive integer, got ${JSON.stringify(maxNodes)}`)
    if (!Number.isInteger(maxNodesPerSource) || maxNodesPerSource < 1) throw new TypeError(`heartbeat: maxNodesPerSource must be a positive integer, got ${JSON.stringify(maxNodesPerSource)}`)
    if (secret !== undefined && (typeof secret !== 'string' || secret.length < 16)) {
      throw new TypeError(`heartbeat: secret must be a string of at least 16 characters (e.g. openssl rand -hex 32), got ${typeof secret === 'string' ? `${secret.length} characters` : JSON.stringify(secret)}`)
    }
    for (const key of ['udpListBytes', 'tcpListBytes'] as const) {
      // A page must hold the longest node a beat may name, and its space.
      const v = ctx.options[key]
      if (!Number.isInteger(v) || v < MAX_NODE_LENGTH + 1) throw new TypeError(`heartbeat: ${key} must be an integer ≥ ${MAX_NODE_LENGTH + 1}, got ${JSON.stringify(v)}`)
    }
    if (!Number.isInteger(ctx.options.replyId) || ctx.options.replyId < 0 || ctx.options.replyId > 0xffffffff) throw new TypeError(`heartbeat: replyId must be a msgId (0 to 2^32-1), got ${JSON.stringify(ctx.options.replyId)}`)
    if (!Number.isInteger(maxSkewMs) || maxSkewMs < 1) throw new TypeError(`heartbeat: maxSkewMs must be a positive integer, got ${JSON.stringify(maxSkewMs)}`)
    const storeUrl = checkStore(ctx.options.store)
    if (typeof ctx.options.storePrefix !== 'string' || !/^[\w:.-]{1,100}$/.test(ctx.options.storePrefix)) throw new TypeError(`heartbeat: storePrefix must be 1-100 characters of letters, digits, _ : . -, got ${JSON.stringify(ctx.options.storePrefix)}`)
    const data = ctx.data as { state?: HeartbeatState; hub?: BusHub; instance?: string }
    const state = upgradeState((data.state ??= createState()))
    // Both outlive this version: dependents' bus subscriptions, and the name other instances know this one by.
    const hub = (data.hub ??= new BusHub())
    const instance = (data.instance ??= `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`)
    const replay = state.replay
    const auth: NodeAuth | null =
      secret === undefined ? null : { maxSkewMs, verify: (msgId, bytes, queryId) => verifyMessage(secret, msgId, bytes, { maxSkewMs, replay, queryId }) }
    auths.set(ctx, auth)
    // Signed nodes are worth nothing if a spoofed source can still be answered in bulk.
    if (auth !== null) ctx.requireAddressValidation()
    const registry = new Registry(state, { ttlMs, maxNodes, maxNodesPerSource }, ctx.log, rateLimited(ctx.log))
    // Nodes registered under the previous version keep their deadlines; this version's timer takes over.
    registry.arm()
    ctx.onDispose(() => registry.dispose())
    // Other plugins and the app hear of expiry through the onPluginMessage hook too ('heartbeat:expired').
    registry.on('expired', (e) => ctx.emit('expired', e), { signal: ctx.signal })
    let store: SharedStore | null = null
    if (storeUrl !== 'memory') {
      // Loaded only when asked for: ioredis is most of a memory-store server's start-up otherwise.
      const { RedisStore } = await import('./redis-store.ts')
      store = new RedisStore(storeUrl, ctx.options.storePrefix, instance, registry, hub, ctx.log)
    }
    else if (ctx.server.cluster !== null) store = new ClusterStore(ctx.server.cluster, registry, hub, ctx.log)
    if (store !== null) {
      const s = store
      ctx.onDispose(() => s.close())
      ctx.log.info({ store: s.kind, ...(s.kind === 'redis' && { url: redacted(storeUrl as URL), prefix: ctx.options.storePrefix }) }, 'registry shared')
    }
    stores.set(ctx, store)
    registries.set(ctx, registry)
    observe(ctx, registry)
    if (ctx.version > 1) ctx.log.info({ nodes: registry.size }, 'registry carried over')
    return {
      ttlMs,
      nodes: () => registry.nodes(),
      get: (node) => registry.get(node),
      get size() {
        return registry.size
      },
      on: (event, fn, opts) => registry.on(event, fn, opts),
      parseNode,
      auth,
      bus: store === null ? null : hub,
      stats: () => ({
        ...state.stats,
        authFailed: { ...state.stats.authFailed },
        live: state.nodes.size,
        subscribers: { registered: state.listeners.registered.size, expired: state.listeners.expired.size },
        ...(store !== null && { store: store.stats() }),
      }),
    }
  },
  routes(ctx) {
    const registry = registries.get(ctx)!
    const limited = rateLimited(ctx.log)
    const replyId = ctx.options.replyId
    const { udpListBytes, tcpListBytes } = ctx.options
    const auth = auths.get(ctx)!
    const stats = registry.state.stats
    const store = stores.get(ctx)!
    return {
      [MSG.register](req) {
        let body = req.data
        if (auth !== null) {
          const v = auth.verify(MSG.register, req.data)
          if (!v.ok) {
            stats.authFailed[v.reason]++
            limited.warn(`auth-${v.reason}`, { remote: `${req.remote.address}:${req.remote.port}`, reason: v.reason, authFailed: stats.authFailed[v.reason] }, 'heartbeat dropped: authentication failed')
            return
          }
          body = v.body
        }
        const node = body.length <= MAX_NODE_LENGTH ? parseNode(body.toString('utf8')) : null
        if (node === null) {
          stats.bad++
          limited.warn('bad-node', { remote: `${req.remote.address}:${req.remote.port}`, bytes: body.length, bad: stats.bad }, 'bad heartbeat payload dropped: expected host:port')
          return
        }
        const from = { protocol: req.conn.protocol, address: req.remote.address, port: req.remote.port, connId: req.conn.id }
        if (registry.beat(node, from) !== 'refused') store?.beat(node, from)
      },
      [MSG.list](req) {
        const page = listPageOf(req.data)
        req.reply(replyId, registry.listPage(req.conn.protocol === 'udp' ? udpListBytes : tcpListBytes, page))
      },
    }
  },
})
