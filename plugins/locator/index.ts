// locator: msgId 20 `resource` asks the live nodes (from the heartbeat
// plugin) who holds it and answers with the first claimant's `host:port`, or
// the not-found text after the timeout. Nodes answer with msgId 21
// `resource\nhost:port`.
//
// Node authentication follows heartbeat's `secret` (one secret, read through
// heartbeat's API on each use, so a change applies without reloading this
// plugin): queries carry a query id, `resource\nqid`, and an answer counts
// only when signed for that id (docs/auth.md).
//
// With a shared registry (heartbeat's `bus`: Redis, or the workers of
// --workers) a node may beat to another instance, and only that instance can
// reach it: over the node's TCP connection, or from the UDP socket the node
// beats to (a node takes datagrams only from its server's address). So a
// locate asks its own nodes and publishes the query on the bus; each other
// instance asks the nodes that beat to it and publishes, for a while, the
// answers they send back. The asking instance checks a forwarded answer as
// one of its own (signature for its query id, claims: 'live').
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { definePlugin, sourceOf, type PluginContext, rateLimited } from '@enetjs/enet'
import { parseSigned, type AuthFailure } from '../heartbeat/auth.ts'
import type { HeartbeatApi } from '../heartbeat/index.ts'
import { createState, Lookups, upgradeState, type LocatorState, type LocatorStats } from './lookups.ts'
import { observe } from './observe.ts'
import { MAX_ANSWER_BYTES, MSG, parseAnswer, queryText, validResource } from './msg.ts'
import { queryTargets } from './targets.ts'

export interface LocatorApi {
  /** Locate from inside the server (another plugin): the node's `host:port`, or null. */
  locate(resource: string): Promise<string | null>
  stats(): Readonly<LocatorStats>
}

const defaults = {
  /** How long a locate waits for a claim. */
  timeoutMs: 1_000,
  /** The reply when nobody claims the resource in time (the Go demo's text). */
  notFound: '没有找到',
  /** The msgId of the reply to msgId 20. */
  replyId: MSG.locate as number,
  /**
   * 'unicast': a query to each live node — framed to the address it beats
   * from, or, for a node that beats from a fresh port each time (Go enet's
   * producers), the bare name to the port it announces (targets.ts).
   * 'broadcast': the Go demo's raw datagram to broadcastAddress:broadcastPort.
   */
  mode: 'unicast' as 'unicast' | 'broadcast',
  /** Unicast may send the bare name to a node's announced port (on the IP its beat came from). false: framed queries only. */
  rawQueries: true,
  /** Loopback by default; a LAN's broadcast address (e.g. 192.168.1.255) in the Go demo's setting. */
  broadcastAddress: '127.0.0.1',
  broadcastPort: 6431,
  /** 'raw': the datagram is the resource name (Go demo). 'enet': an enet UDP frame with msgId 20. */
  broadcastFraming: 'raw' as 'raw' | 'enet',
  /** Distinct names waiting at once, at most; a locate beyond that is answered not-found at once. */
  maxPending: 1_024,
  /** The same for the names one source (IP or IPv6 /64) started: one source cannot take every slot. */
  maxPendingPerSource: 64,
  /** Nodes one query wave asks at most (unicast); successive waves take the next ones in turn. */
  maxFanout: 256,
  /** Remember a claim this long (0: off). A remembered node is forgotten when it expires. */
  cacheMs: 0,
  maxCache: 1_024,
  /**
   * 'live': a claim must name a node that is live in heartbeat's registry,
   * else it is dropped and counted (without a secret anyone can send msgId 21,
   * and could point consumers at any host). 'any': the Go demo's trust.
   */
  claims: 'live' as 'live' | 'any',
}
type Options = typeof defaults

const lookupsByCtx = new WeakMap<object, Lookups>()
/** This version's handling of one claim (msgId 21 data), by context: the route and the bus share it. */
const claims = new WeakMap<object, (data: Buffer, remote: { address: string; port: number }, forwardable: boolean) => void>()

/** Topics on heartbeat's bus. */
const TOPIC = { query: 'locator:query', answer: 'locator:answer' } as const

export default definePlugin<Options, LocatorApi>({
  name: 'locator',
  options: defaults,
  dependencies: ['heartbeat'],
  // Per source, over UDP and TCP: each locate may ask up to maxFanout nodes.
  rateLimits: { [MSG.locate]: { perSec: 50, burst: 100, tcp: true } },
  async setup(ctx) {
    const o = checkOptions(ctx.options)
    const data = ctx.data as { state?: LocatorState }
    const state = upgradeState((data.state ??= createState()))
    const heartbeat = () => ctx.use<HeartbeatApi>('heartbeat')
    const local = unicaster(ctx, heartbeat, state.stats)
    const ask = o.mode === 'broadcast' ? await broadcaster(ctx) : sharedAsker(local, heartbeat)
    // Random, not a counter: an answer signed before a restart must not fit a query made after it.
    const newQueryId = () => (heartbeat().auth === null ? undefined : randomBytes(8).toString('hex'))
    const lookups = new Lookups(state, o, ctx.log, ask, newQueryId)
    lookupsByCtx.set(ctx, lookups)
    ctx.onDispose(() => lookups.dispose())
    observe(ctx, state)
    // The subscription ends with this version (ctx.signal aborts on dispose).
    heartbeat().on('expired', (e) => lookups.forget(e.node), { signal: ctx.signal })
    const bus = heartbeat().bus
    if (bus !== null && o.mode === 'unicast') {
      bus.subscribe(
        TOPIC.query,
        (m) => {
          const { resource, queryId } = m as { resource: string; queryId?: string }
          if (typeof resource !== 'string' || !validResource(resource, Buffer.byteLength(resource))) return
          forward(state, resource, o)
          local(resource, typeof queryId === 'string' ? queryId : undefined)
        },
        { signal: ctx.signal },
      )
      bus.subscribe(TOPIC.answer, (m) => void claims.get(ctx)?.(Buffer.from(String((m as { data: string }).data), 'base64'), { address: 'bus', port: 0 }, false), { signal: ctx.signal })
    }
    return {
      locate: (resource) => (validResource(resource, Buffer.byteLength(resource)) ? lookups.locate(resource) : Promise.resolve(null)),
      stats: () => ({ ...state.stats, authFailed: { ...state.stats.authFailed } }),
    }
  },
  routes(ctx) {
    const lookups = lookupsByCtx.get(ctx)!
    const { notFound, replyId, timeoutMs } = ctx.options
    const stats = lookups.state.stats
    const limited = rateLimited(ctx.log)
    const refuse = (remote: { address: string; port: number }, reason: AuthFailure) => {
      stats.authFailed[reason]++
      limited.warn(`auth-${reason}`, { remote: `${remote.address}:${remote.port}`, reason, authFailed: stats.authFailed[reason] }, 'locate answer dropped: authentication failed')
    }
    /** A claim from a node (forwardable), or one another instance forwarded over the bus. */
    const claim = (data: Buffer, remote: { address: string; port: number }, forwardable: boolean): void => {
      const heartbeat = ctx.use<HeartbeatApi>('heartbeat')
      const auth = heartbeat.auth
      let body = data
      if (auth !== null) {
        const signed = parseSigned(data)
        if (signed === null) return refuse(remote, 'malformed')
        body = signed.body
      }
      const answer = body.length <= MAX_ANSWER_BYTES ? parseAnswer(body.toString('utf8'), heartbeat.parseNode) : null
      if (answer === null) {
        stats.malformed++
        limited.warn('malformed-answer', { remote: `${remote.address}:${remote.port}`, bytes: data.length, malformed: stats.malformed }, 'malformed locate answer dropped: expected resource\\nhost:port')
        return
      }
      // Asked on behalf of another instance: the answer goes back over the bus, checked there.
      if (forwardable && forwarding(lookups.state, answer.resource) && heartbeat.bus?.publish(TOPIC.answer, { data: data.toString('base64') })) {
        stats.forwarded++
        if (lookups.queryId(answer.resource) === undefined && !lookups.state.pending.has(answer.resource)) return
      }
      if (auth !== null) {
        // The query id is found by the claimed name; the tag then proves the claim answers that very query.
        const queryId = lookups.queryId(answer.resource)
        if (queryId === undefined) {
          stats.answers++
          stats.late++
          return
        }
        const v = auth.verify(MSG.answer, data, queryId)
        if (!v.ok) return refuse(remote, v.reason)
      }
      if (ctx.options.claims === 'live' && heartbeat.get(answer.node) === undefined) {
        stats.notLive++
        limited.warn('not-live', { remote: `${remote.address}:${remote.port}`, node: answer.node, notLive: stats.notLive }, 'locate answer dropped: the node it names is not live')
        return
      }
      const answered = lookups.answer(answer.resource, answer.node)
      if (answered > 0) ctx.log.debug({ resource: answer.resource, node: answer.node, answered }, 'resource located')
    }
    claims.set(ctx, claim)
    return {
      [MSG.locate]: {
        // A locate waits up to timeoutMs: it must not hold up the requests behind it on its connection.
        concurrent: true,
        timeoutMs: timeoutMs + 1_000,
        async handle(req) {
          const name = req.text()
          if (!validResource(name, req.data.length)) {
            stats.bad++
            limited.warn('bad-resource', { remote: `${req.remote.address}:${req.remote.port}`, bytes: req.data.length }, 'bad locate request: expected a resource name of 1-255 bytes without newline')
            req.reply(replyId, notFound)
            return
          }
          const node = await lookups.locate(name, sourceOf(req.remote.address))
          req.reply(replyId, node ?? notFound)
        },
      },
      [MSG.answer](req) {
        claim(req.data, req.remote, true)
      },
    }
  },
})

function checkOptions(o: Options): Options {
  const posInt = (k: keyof Options, min = 1) => {
    if (!Number.isInteger(o[k]) || (o[k] as number) < min) throw new TypeError(`locator: ${k} must be an integer >= ${min}, got ${JSON.stringify(o[k])}`)
  }
  posInt('timeoutMs')
  posInt('maxPending')
  posInt('maxPendingPerSource')
  posInt('maxFanout')
  posInt('cacheMs', 0)
  posInt('maxCache')
  posInt('broadcastPort')
  if (o.broadcastPort > 65535) throw new TypeError(`locator: broadcastPort must be 1-65535, got ${o.broadcastPort}`)
  if (o.mode !== 'unicast' && o.mode !== 'broadcast') throw new TypeError(`locator: mode must be "unicast" or "broadcast", got ${JSON.stringify(o.mode)}`)
  if (o.broadcastFraming !== 'raw' && o.broadcastFraming !== 'enet') throw new TypeError(`locator: broadcastFraming must be "raw" or "enet", got ${JSON.stringify(o.broadcastFraming)}`)
  if (typeof o.rawQueries !== 'boolean') throw new TypeError(`locator: rawQueries must be true or false, got ${JSON.stringify(o.rawQueries)}`)
  if (o.claims !== 'live' && o.claims !== 'any') throw new TypeError(`locator: claims must be "live" or "any", got ${JSON.stringify(o.claims)}`)
  if (typeof o.notFound !== 'string') throw new TypeError(`locator: notFound must be a string, got ${typeof o.notFound}`)
  return o
}

/** Default: one query per live node, in the form and at the address targets.ts picks (over its TCP, TLS or WebSocket connection while that is open). */
function unicaster(ctx: PluginContext<Options>, heartbeat: () => HeartbeatApi, stats: LocatorStats): (name: string, queryId: string | undefined) => number {
  const { rawQueries } = ctx.options
  // Where the next capped wave starts, so that waves in turn reach every node.
  let start = 0
  return (resource, queryId) => {
    const name = queryText(resource, queryId)
    let asked = 0
    // A node that beats to another instance is asked by that instance (over the bus).
    let nodes = heartbeat().nodes().filter((n) => n.local)
    const max = ctx.options.maxFanout
    if (nodes.length > max) {
      stats.capped++
      start %= nodes.length
      nodes = [...nodes.slice(start), ...nodes.slice(0, start)].slice(0, max)
      start += max
    }
    for (const n of nodes) {
      for (const t of queryTargets(n, rawQueries)) {
        if (t.form === 'tcp') {
          const conn = ctx.server.connections.get(t.connId)
          if (conn !== undefined && !conn.closed && conn.send(MSG.query, name)) asked++
        } else if (t.form === 'framed') {
          if (ctx.server.sendUdp(t.address, t.port, MSG.query, name)) asked++
        } else if (ctx.server.sendUdpRaw(t.address, t.port, name)) {
          asked++
          stats.rawQueries++
        }
      }
    }
    return asked
  }
}

/** Its own nodes directly; the others through the instances they beat to, if the registry is shared. */
function sharedAsker(local: (name: string, queryId: string | undefined) => number, heartbeat: () => HeartbeatApi): (name: string, queryId: string | undefined) => number {
  return (resource, queryId) => {
    let asked = local(resource, queryId)
    const hb = heartbeat()
    if (hb.bus === null) return asked
    let remote = 0
    for (const n of hb.nodes()) if (!n.local) remote++
    if (remote > 0 && hb.bus.publish(TOPIC.query, { resource, ...(queryId !== undefined && { queryId }) })) asked += remote
    return asked
  }
}

/** Answers for `resource` are forwarded for one locate timeout after its query came over the bus. */
function forward(state: LocatorState, resource: string, o: Options): void {
  const f = state.forwarded
  f.delete(resource)
  // Bounded like the locates themselves: the oldest name goes first.
  if (f.size >= o.maxPending) f.delete(f.keys().next().value!)
  f.set(resource, performance.now() + o.timeoutMs)
}

function forwarding(state: LocatorState, resource: string): boolean {
  const until = state.forwarded.get(resource)
  if (until === undefined) return false
  if (until > performance.now()) return true
  state.forwarded.delete(resource)
  return false
}

/** Option: the Go demo's way, one datagram to a broadcast address; the socket lives as long as this version. */
async function broadcaster(ctx: PluginContext<Options>): Promise<(name: string, queryId: string | undefined) => number> {
  const { broadcastAddress, broadcastPort, broadcastFraming } = ctx.options
  const socket = dgram.createSocket('udp4')
  // A loopback target gets a loopback-only socket.
  const loopback = broadcastAddress.startsWith('127.')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, loopback ? '127.0.0.1' : undefined, () => {
      socket.off('error', reject)
      resolve()
    })
  }).catch((err) => {
    socket.close()
    throw err
  })
  socket.on('error', (err) => ctx.log.warn({ err }, 'locator broadcast socket error'))
  socket.setBroadcast(true)
  ctx.onDispose(() => new Promise<void>((resolve) => socket.close(() => resolve())))
  ctx.log.info({ broadcastAddress, broadcastPort, framing: broadcastFraming }, 'locator broadcasts its queries')
  return (name, queryId) => {
    const body = Buffer.from(queryText(name, queryId))
    let datagram = body
    if (broadcastFraming === 'enet') {
      datagram = Buffer.allocUnsafe(4 + body.length)
      datagram.writeUInt32BE(MSG.query, 0)
      body.copy(datagram, 4)
    }
    socket.send(datagram, broadcastPort, broadcastAddress)
    return 1
  }
}
