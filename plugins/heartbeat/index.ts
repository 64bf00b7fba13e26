// heartbeat: nodes announce `host:port` (msgId 10); anyone lists the live
// ones (msgId 11 → msgId 10). Dependents get the registry through
// ctx.use('heartbeat'): see HeartbeatApi.
import { definePlugin } from 'enet'
import { MAX_NODE_LENGTH, MSG, parseNode } from './msg.ts'
import { createState, Registry, type HeartbeatEventName, type HeartbeatEvents, type HeartbeatState, type HeartbeatStats, type NodeInfo } from './registry.ts'
import { throttle } from './throttle.ts'

export type { ExpiredEvent, HeartbeatEvents, HeartbeatStats, NodeInfo, NodeSource } from './registry.ts'

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
  /** Counters since the first load, and how many subscriptions are live. */
  stats(): Readonly<HeartbeatStats & { live: number; subscribers: Record<HeartbeatEventName, number> }>
}

/** This version's registry, by context: module scope belongs to one version, ctx.data to all. */
const registries = new WeakMap<object, Registry>()

const defaults = {
  /** A node silent for this long is dropped. */
  ttlMs: 2_500,
  /** Live nodes at most; a new node beyond this is refused (and counted). */
  maxNodes: 1_024,
  /** The msgId that answers msgId 11. */
  replyId: MSG.listReply as number,
  /** Over UDP the list reply is cut to this many bytes (one datagram); data `N` asks for page N. */
  udpListBytes: 1_200,
}

export default definePlugin<typeof defaults, HeartbeatApi>({
  name: 'heartbeat',
  options: defaults,
  setup(ctx) {
    const { ttlMs, maxNodes } = ctx.options
    if (!Number.isInteger(ttlMs) || ttlMs < 1) throw new TypeError(`heartbeat: ttlMs must be a positive integer, got ${JSON.stringify(ttlMs)}`)
    if (!Number.isInteger(maxNodes) || maxNodes < 1) throw new TypeError(`heartbeat: maxNodes must be a positive integer, got ${JSON.stringify(maxNodes)}`)
    const data = ctx.data as { state?: HeartbeatState }
    const state = (data.state ??= createState())
    const registry = new Registry(state, { ttlMs, maxNodes }, ctx.log, throttle(ctx.log))
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
      stats: () => ({
        ...state.stats,
        live: state.nodes.size,
        subscribers: { registered: state.listeners.registered.size, expired: state.listeners.expired.size },
      }),
    }
  },
  routes(ctx) {
    const registry = registries.get(ctx)!
    const limited = throttle(ctx.log)
    const replyId = ctx.options.replyId
    const udpListBytes = ctx.options.udpListBytes
    return {
      [MSG.register](req) {
        const node = req.data.length <= MAX_NODE_LENGTH ? parseNode(req.text()) : null
        if (node === null) {
          registry.state.stats.bad++
          limited.warn('bad-node', { remote: `${req.remote.address}:${req.remote.port}`, bytes: req.data.length, bad: registry.state.stats.bad }, 'bad heartbeat payload dropped: expected host:port')
          return
        }
        registry.beat(node, { protocol: req.conn.protocol, address: req.remote.address, port: req.remote.port, connId: req.conn.id })
      },
      [MSG.list](req) {
        if (req.conn.protocol !== 'udp') return void req.reply(replyId, registry.listText())
        // The Go consumer sends anything with 11: only a small decimal number picks a page.
        const page = /^\d{1,6}$/.test(req.text()) ? Number(req.text()) : 0
        req.reply(replyId, registry.listPage(udpListBytes, page))
      },
    }
  },
})
