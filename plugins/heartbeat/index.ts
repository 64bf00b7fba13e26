// heartbeat: nodes announce `host:port` (msgId 10); anyone lists the live
// ones (msgId 11 → msgId 10). Dependents get the registry through
// ctx.use('heartbeat'): see HeartbeatApi.
import { definePlugin, rateLimited } from '@enetjs/enet'
import { verifyMessage, type VerifyResult } from './auth.ts'
import { listPageOf, MAX_NODE_LENGTH, MSG, parseNode } from './msg.ts'
import { createState, Registry, upgradeState, type HeartbeatEventName, type HeartbeatEvents, type HeartbeatState, type HeartbeatStats, type NodeInfo } from './registry.ts'

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
  /** Counters since the first load, and how many subscriptions are live. */
  stats(): Readonly<HeartbeatStats & { live: number; subscribers: Record<HeartbeatEventName, number> }>
}

/** This version's registry, by context: module scope belongs to one version, ctx.data to all. */
const registries = new WeakMap<object, Registry>()
const auths = new WeakMap<object, NodeAuth | null>()

const defaults = {
  /** A node silent for this long is dropped. */
  ttlMs: 2_500,
  /** Live nodes at most; a new node beyond this is refused (and counted). */
  maxNodes: 1_024,
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
}

export default definePlugin<typeof defaults, HeartbeatApi>({
  name: 'heartbeat',
  options: defaults,
  // Per source IP over UDP: a node beats once a second; a lister polls.
  rateLimits: { [MSG.register]: { perSec: 100, burst: 200 }, [MSG.list]: { perSec: 50, burst: 100 } },
  setup(ctx) {
    const { ttlMs, maxNodes, secret, maxSkewMs } = ctx.options
    if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new TypeError(`heartbeat: ttlMs must be a positive integer, got ${JSON.stringify(ttlMs)}`)
    if (!Number.isInteger(maxNodes) || maxNodes < 1) throw new TypeError(`heartbeat: maxNodes must be a positive integer, got ${JSON.stringify(maxNodes)}`)
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
    const data = ctx.data as { state?: HeartbeatState }
    const state = upgradeState((data.state ??= createState()))
    const replay = state.replay
    const auth: NodeAuth | null =
      secret === undefined ? null : { maxSkewMs, verify: (msgId, bytes, queryId) => verifyMessage(secret, msgId, bytes, { maxSkewMs, replay, queryId }) }
    auths.set(ctx, auth)
    // Signed nodes are worth nothing if a spoofed source can still be answered in bulk.
    if (auth !== null) ctx.requireAddressValidation()
    const registry = new Registry(state, { ttlMs, maxNodes }, ctx.log, rateLimited(ctx.log))
    // Nodes registered under the previous version keep their deadlines; this version's timer takes over.
    registry.arm()
    ctx.onDispose(() => registry.dispose())
    // Other plugins and the app hear of expiry through the onPluginMessage hook too ('heartbeat:expired').
    registry.on('expired', (e) => ctx.emit('expired', e), { signal: ctx.signal })
    registries.set(ctx, registry)
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
      stats: () => ({
        ...state.stats,
        authFailed: { ...state.stats.authFailed },
        live: state.nodes.size,
        subscribers: { registered: state.listeners.registered.size, expired: state.listeners.expired.size },
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
        registry.beat(node, { protocol: req.conn.protocol, address: req.remote.address, port: req.remote.port, connId: req.conn.id })
      },
      [MSG.list](req) {
        const page = listPageOf(req.data)
        req.reply(replyId, registry.listPage(req.conn.protocol === 'udp' ? udpListBytes : tcpListBytes, page))
      },
    }
  },
})
