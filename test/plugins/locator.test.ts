// The locator plugin: locate over TCP and UDP, found / not found at the
// timeout, concurrent locates of one name, malformed answers, the broadcast
// option, a reload with locates in flight, and the heartbeat subscription.
import dgram from 'node:dgram'
import { describe, expect, it } from 'vitest'
import { startProducer, type Producer } from '../../examples/producer.ts'
import { locate } from '../../examples/consumer.ts'
import type { Client } from '../../core/client/index.ts'
import { LEVEL } from '../helpers/logs.ts'
import { FrameClient } from '../helpers/frames.ts'
import { UdpClient } from '../helpers/udp.ts'
import { referenceTimer, until } from '../helpers/until.ts'
import type { HeartbeatApi } from '../../plugins/heartbeat/index.ts'
import type { LocatorApi } from '../../plugins/locator/index.ts'
import { useBundled, type Bundled } from './bundled.ts'
import { GoConsumer, GoProducer, goDatagram, sendOnce } from '../helpers/go-demo.ts'

const b = useBundled()
const NOT_FOUND = '没有找到'

async function producer(p: Bundled, resources: string[], transport: 'udp' | 'tcp' = 'udp'): Promise<Producer> {
  const node = await startProducer({ server: `127.0.0.1:${transport === 'udp' ? p.udpPort : p.tcpPort}`, resources, transport, intervalMs: 5_000 })
  b.onCleanup(() => node.stop())
  return node
}

/** A node the test drives by hand: it beats once and records the queries it gets. */
async function manualNode(p: Bundled, node: string) {
  const c = await UdpClient.open(p.udpPort)
  b.onCleanup(() => c.close())
  await c.send(10, node)
  return c
}

/** Resolves once the server lists `n` nodes. */
async function nodesLive(c: Client, n: number) {
  for (let i = 0; i < 100; i++) {
    const list = (await c.request(11, '', { replyId: 10 })).data.toString()
    if (list.split(' ').filter(Boolean).length >= n) return
  }
  throw new Error(`fewer than ${n} nodes live`)
}

const ask = async (c: Client, name: string, timeoutMs = 3_000) => (await c.request(20, name, { timeoutMs })).data.toString()

/** One live node driven by hand, and a locate of `foo` whose query has reached it. */
async function queryOut(p: Bundled, address: string, protocol: 'udp' | 'tcp' = 'udp') {
  const node = await manualNode(p, address)
  const c = await p.client(protocol)
  await nodesLive(c, 1)
  const answer = ask(c, 'foo')
  await node.waitFrames(1)
  return { node, c, answer }
}

describe('locate', () => {
  it.each(['udp', 'tcp'] as const)('over %s: the node that holds the resource answers; the other one stays silent', async (protocol) => {
    const p = await b.start()
    const holder = await producer(p, ['foo'])
    const other = await producer(p, ['bar'])
    const c = await p.client(protocol)
    await nodesLive(c, 2)
    expect(await ask(c, 'foo')).toBe(holder.node)
    expect(holder.counts).toMatchObject({ queries: 1, answered: 1 })
    await until(() => other.counts.queries === 1)
    expect(other.counts.answered).toBe(0)
    expect(await locate(c, 'bar')).toBe(other.node)
  })

  it('a node that beats over TCP is asked over its TCP connection', async () => {
    const p = await b.start()
    const holder = await producer(p, ['foo'], 'tcp')
    const c = await p.client('udp')
    await nodesLive(c, 1)
    expect(await ask(c, 'foo')).toBe(holder.node)
  })

  it('not found: the configured text after the timeout (not before, not 2× later)', async () => {
    const timeoutMs = 300
    const p = await b.start({ locator: { timeoutMs, notFound: 'nope' } })
    await producer(p, ['foo'])
    const c = await p.client('udp')
    await nodesLive(c, 1)
    const t0 = performance.now()
    const ref = referenceTimer(timeoutMs)
    expect(await ask(c, 'missing')).toBe('nope')
    const ms = performance.now() - t0
    expect(ms).toBeGreaterThanOrEqual(timeoutMs - 1)
    // On time: within half the timeout of a timer set for the same deadline in this process.
    expect(ms).toBeLessThan((await ref) + 0.5 * timeoutMs)
  })

  it('with no live node the answer is not-found at once; bad names too', async () => {
    const timeoutMsAtOnce = 2_000
    const p = await b.start({ locator: { timeoutMs: timeoutMsAtOnce } })
    const c = await p.client('tcp')
    const t0 = performance.now()
    expect(await ask(c, 'foo')).toBe(NOT_FOUND)
    expect(await ask(c, '')).toBe(NOT_FOUND)
    expect(await ask(c, 'a\nb')).toBe(NOT_FOUND)
    expect(await ask(c, 'x'.repeat(256))).toBe(NOT_FOUND)
    // Waiting for the timeout even once would take 2 s.
    expect(performance.now() - t0).toBeLessThan(timeoutMsAtOnce)
    expect(p.logs.find('bad locate request', LEVEL.warn)).toHaveLength(3)
  })

  it('concurrent locates of one name share one query and all get the answer; a waiting locate blocks nothing on its connection', async () => {
    const p = await b.start()
    const node = await manualNode(p, '127.0.0.1:7001')
    const c1 = await p.client('tcp')
    const c2 = await p.client('udp')
    const c3 = await p.client('tcp')
    await nodesLive(c1, 1)
    const answers = [ask(c1, 'foo'), ask(c1, 'foo'), ask(c2, 'foo'), ask(c3, 'foo')]
    await node.waitFrames(1)
    expect(node.frames[0]).toMatchObject({ msgId: 20, text: 'foo' })
    // c1 has two locates waiting; its next request is answered right away.
    expect((await c1.request(11, '', { replyId: 10, timeoutMs: 500 })).data.toString()).toBe('127.0.0.1:7001 ')
    await node.send(21, 'foo\n127.0.0.1:7001')
    expect(await Promise.all(answers)).toEqual(Array(4).fill('127.0.0.1:7001'))
    expect(node.frames).toHaveLength(1)
  })

  it('locates of one name that never pause ask again each timeout: a node that came up meanwhile is found', async () => {
    const timeoutMs = 400
    const p = await b.start({ locator: { timeoutMs, notFound: 'nope' } })
    const first = await manualNode(p, '127.0.0.1:7011')
    const [c1, c2, c3] = [await p.client('udp'), await p.client('udp'), await p.client('udp')]
    await nodesLive(c1, 1)
    const l1 = ask(c1, 'foo')
    await first.waitFrames(1)
    // The holder comes up while the first wave is out; a second locate joins that wave.
    const holder = await manualNode(p, '127.0.0.1:7012')
    await nodesLive(c1, 2)
    // The scenario, not a wait for the server: l2 joins half a timeout into the wave, so it is still waiting when l1 ends.
    await new Promise((r) => setTimeout(r, timeoutMs / 2))
    const l2 = ask(c2, 'foo')
    expect(await l1).toBe('nope')
    // l2 still waits, so the name never settled; this locate finds the wave a timeout old and asks again.
    const l3 = ask(c3, 'foo')
    await holder.waitFrames(1)
    expect(holder.frames[0]).toMatchObject({ msgId: 20, text: 'foo' })
    await holder.send(21, 'foo\n127.0.0.1:7012')
    expect(await Promise.all([l2, l3])).toEqual(['127.0.0.1:7012', '127.0.0.1:7012'])
  })

  it('malformed answers are dropped and counted; a good one still wins; late answers are ignored', async () => {
    const p = await b.start()
    const { node, c, answer } = await queryOut(p, '127.0.0.1:7002')
    for (const bad of ['foo', '\n127.0.0.1:1', 'foo\n', 'foo\nnot an address', 'foo\n127.0.0.1:99999', '']) await node.send(21, bad)
    await node.send(21, 'foo\n127.0.0.1:7002')
    await node.send(21, 'foo\n127.0.0.1:7999')
    expect(await answer).toBe('127.0.0.1:7002')
    const lines = p.logs.find('malformed locate answer dropped', LEVEL.warn)
    expect(lines).toHaveLength(5)
    expect(lines.at(-1)).toMatchObject({ plugin: 'locator', malformed: 5 })
    // The late claim found nobody waiting; the next locate asks again.
    const again = ask(c, 'foo')
    await node.waitFrames(2)
    await node.send(21, 'foo\n127.0.0.1:7002')
    expect(await again).toBe('127.0.0.1:7002')
  })

  it('a claim naming a node that is not live is dropped and counted; with claims: any it counts', async () => {
    const p = await b.start()
    const { node, answer } = await queryOut(p, '127.0.0.1:7004')
    // A spoofer (or a confused node) names a host nobody registered.
    await node.send(21, 'foo\n10.6.6.6:80')
    await node.send(21, 'foo\n127.0.0.1:7004')
    expect(await answer).toBe('127.0.0.1:7004')
    expect(p.app.plugins.api<LocatorApi>('locator')!.stats().notLive).toBe(1)
    expect(p.logs.find('locate answer dropped: the node it names is not live', LEVEL.warn)).toMatchObject([{ node: '10.6.6.6:80', notLive: 1 }])
  })

  it("claims: 'any' takes a claim for any host (the Go demo's trust)", async () => {
    const p = await b.start({ locator: { claims: 'any' } })
    const { node, answer } = await queryOut(p, '127.0.0.1:7005')
    await node.send(21, 'foo\n10.6.6.6:80')
    expect(await answer).toBe('10.6.6.6:80')
  })

  it("broadcast mode sends the Go demo's raw query to the configured address", async () => {
    const listener = dgram.createSocket('udp4')
    await new Promise<void>((r) => listener.bind(0, '127.0.0.1', r))
    b.onCleanup(() => new Promise<void>((r) => listener.close(() => r())))
    // The listener stands for a node that never beat: only claims: 'any' takes its claim.
    const p = await b.start({ locator: { mode: 'broadcast', broadcastAddress: '127.0.0.1', broadcastPort: listener.address().port, claims: 'any' } })
    const queries: string[] = []
    listener.on('message', (m) => {
      queries.push(m.toString('hex'))
      const answer = Buffer.concat([Buffer.from('00000015', 'hex'), Buffer.from(`${m.toString()}\n127.0.0.1:7100`)])
      listener.send(answer, p.udpPort, '127.0.0.1')
    })
    const c = await p.client('tcp')
    expect(await ask(c, 'foo')).toBe('127.0.0.1:7100')
    expect(queries).toEqual([Buffer.from('foo').toString('hex')])
  })
})

describe("Go enet's producers with the shipped defaults", () => {
  async function goProducer(p: Bundled, resources: string[]) {
    const g = await GoProducer.start(p.udpPort, resources)
    b.onCleanup(() => g.stop())
    return g
  }

  it('a producer that beats from a fresh port each time and takes the bare name on its announced port is found; enet producers still get framed queries', async () => {
    const p = await b.start()
    const holder = await goProducer(p, ['movie.mp4'])
    const other = await goProducer(p, [])
    const native = await producer(p, ['foo'])
    // One beat each so far: the server cannot tell yet how they listen, so both forms go out.
    await holder.beat()
    await other.beat()
    const consumer = await GoConsumer.open(p.udpPort)
    b.onCleanup(() => consumer.close())
    await until(async () => (await consumer.request(11, '')).text.split(' ').filter(Boolean).length === 3)
    expect(await consumer.request(20, 'movie.mp4')).toMatchObject({ msgId: 20, text: holder.node })
    expect(holder.queries).toEqual(['movie.mp4'])
    await until(() => other.queries.length === 1)
    expect(other.queries).toEqual(['movie.mp4'])
    expect(native.counts.queries).toBe(1)

    // Three beats from three ports: a socket per beat, so only the bare name goes to the announced port.
    for (let i = 0; i < 2; i++) await holder.beat()
    for (let i = 0; i < 2; i++) await other.beat()
    expect(new Set(holder.beatPorts).size).toBe(3)
    native.client.send(10, native.node)
    await until(async () => p.app.plugins.api<HeartbeatApi>('heartbeat')!.nodes().every((n) => n.socket !== 'unknown'))
    const hb = p.app.plugins.api<HeartbeatApi>('heartbeat')!
    expect([hb.get(holder.node)!.socket, hb.get(other.node)!.socket, hb.get(native.node)!.socket]).toEqual(['per-beat', 'per-beat', 'kept'])
    const before = p.app.plugins.api<LocatorApi>('locator')!.stats()
    expect((await consumer.request(20, 'foo')).text).toBe(native.node)
    expect((await consumer.request(20, 'movie.mp4')).text).toBe(holder.node)
    const after = p.app.plugins.api<LocatorApi>('locator')!.stats()
    // Two waves of three queries: one per node, the two Go ones bare.
    expect(after.queries - before.queries).toBe(6)
    expect(after.rawQueries - before.rawQueries).toBe(4)
    expect(native.counts.queries).toBe(3)
  })

  it('a stopped Go producer expires one TTL after its last beat and is not found any more', async () => {
    const ttlMs = 300
    const p = await b.start({ heartbeat: { ttlMs }, locator: { timeoutMs: 200 } })
    const holder = await goProducer(p, ['movie.mp4'])
    await holder.beatEvery(50)
    const consumer = await GoConsumer.open(p.udpPort)
    b.onCleanup(() => consumer.close())
    await until(async () => (await consumer.request(11, '')).text === holder.node + ' ')
    expect((await consumer.request(20, 'movie.mp4')).text).toBe(holder.node)
    await holder.stop()
    await until(() => p.logs.find('node expired').length === 1, 3 * ttlMs, 'the Go producer expired')
    expect((await consumer.request(11, '')).text).toBe('')
    expect((await consumer.request(20, 'movie.mp4')).text).toBe(NOT_FOUND)
  })

  it('a beat never aims the bare-name query at another host than the one it came from', async () => {
    const p = await b.start({ locator: { timeoutMs: 200, notFound: 'nope' } })
    // A listener on another loopback IP, named by beats that come from 127.0.0.1.
    const victim = dgram.createSocket('udp4')
    await new Promise<void>((r) => victim.bind(0, '127.0.0.2', r))
    b.onCleanup(() => new Promise<void>((r) => victim.close(() => r())))
    const got: Buffer[] = []
    victim.on('message', (m) => void got.push(m))
    const control = await goProducer(p, [])
    for (let i = 0; i < 3; i++) {
      await sendOnce(p.udpPort, goDatagram(10, `127.0.0.2:${victim.address().port}`))
      await sendOnce(p.udpPort, goDatagram(10, `localhost:${victim.address().port}`))
      await control.beat()
    }
    const c = await p.client('udp')
    await nodesLive(c, 3)
    expect(await ask(c, 'movie.mp4')).toBe('nope')
    // The control node on the beat's own IP got its bare name; the other host got nothing.
    expect(control.queries).toEqual(['movie.mp4'])
    expect(got).toHaveLength(0)
    // Nor at that port on the beat's own IP: a node named by another host or a DNS name gets only the framed query at its beat-from address.
    expect(p.app.plugins.api<LocatorApi>('locator')!.stats()).toMatchObject({ queries: 3, rawQueries: 1 })
  })

  it('rawQueries: false keeps to framed queries at the beat-from address', async () => {
    const p = await b.start({ locator: { rawQueries: false, timeoutMs: 200, notFound: 'nope' } })
    const g = await goProducer(p, ['movie.mp4'])
    for (let i = 0; i < 3; i++) await g.beat()
    const c = await p.client('udp')
    await nodesLive(c, 1)
    expect(await ask(c, 'movie.mp4')).toBe('nope')
    expect(g.queries).toHaveLength(0)
    expect(p.app.plugins.api<LocatorApi>('locator')!.stats()).toMatchObject({ queries: 1, rawQueries: 0 })
  })
})

describe('lifecycle', () => {
  it('a locate in flight across a reload of the locator gets the answer the new version receives', async () => {
    const p = await b.start()
    const { node, answer } = await queryOut(p, '127.0.0.1:7200', 'tcp')
    expect(await p.app.plugins.reload('locator')).toMatchObject({ version: 2, status: 'active', inflight: 0 })
    expect(p.app.plugins.get('locator')).toMatchObject({ version: 2 })
    await node.send(21, 'foo\n127.0.0.1:7200')
    expect(await answer).toBe('127.0.0.1:7200')
  })

  it('dispose releases waiting locates (not-found) instead of letting them run to the timeout', async () => {
    const p = await b.start({ locator: { timeoutMs: 5_000 } }, {}, { drainTimeoutMs: 20 })
    const node = await manualNode(p, '127.0.0.1:7300')
    const c = await p.client('udp')
    await nodesLive(c, 1)
    const t0 = performance.now()
    const answer = ask(c, 'foo')
    await node.waitFrames(1)
    await p.app.plugins.reload('locator')
    await p.app.plugins.settled()
    expect(await answer).toBe(NOT_FOUND)
    // Released by the dispose, not by the 5 s timeout.
    expect(performance.now() - t0).toBeLessThan(4_000)
  })

  it('cached claims are forgotten when the node expires; the heartbeat subscription ends with each locator version', async () => {
    const probe = `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'probe',
  dependencies: ['heartbeat'],
  routes: (ctx) => ({ 99: (req) => { req.reply(99, JSON.stringify(ctx.use('heartbeat').stats())) } }),
})
`
    const p = await b.start({ heartbeat: { ttlMs: 300 }, locator: { cacheMs: 60_000, timeoutMs: 300 } }, { 'plugins/probe/index.ts': probe })
    const holder = await producer(p, ['foo'])
    const c = await p.client('udp')
    await nodesLive(c, 1)
    expect(await ask(c, 'foo')).toBe(holder.node)
    expect(await ask(c, 'foo')).toBe(holder.node)
    expect(holder.counts.queries).toBe(1)

    for (let i = 0; i < 3; i++) await p.app.plugins.reload('locator')
    await p.app.plugins.settled()
    const stats = JSON.parse((await c.request(99, '')).data.toString())
    // One subscriber is heartbeat's own announcement on onPluginMessage, one is the live locator version.
    expect(stats.subscribers).toEqual({ registered: 0, expired: 2 })

    await holder.stop()
    await until(() => p.logs.find('node expired').length === 1, 1_000, 'holder expired')
    expect(await ask(c, 'foo')).toBe(NOT_FOUND)
  })
})

describe('fair shares (issue 9)', () => {
  const from = (address: string) => ({ protocol: 'udp' as const, remote: { address, port: 7000, family: address.includes(':') ? 'IPv6' : 'IPv4' } })

  it('one source waits on at most maxPendingPerSource names; another source still gets a slot', async () => {
    const p = await b.start({ locator: { maxPendingPerSource: 2, timeoutMs: 300 } })
    // A live node, so locates wait for a claim instead of settling at once.
    await manualNode(p, '127.0.0.1:7100')
    await until(() => p.app.plugins.api<HeartbeatApi>('heartbeat')!.size === 1)
    const stats = () => p.app.plugins.api<LocatorApi>('locator')!.stats()
    const flood = ['a', 'b', 'c', 'd', 'e'].map((n) => p.app.server.inject({ msgId: 20, data: n, ...from('2001:db8:1:2::' + n) }))
    await until(() => stats().busySource === 3)
    const other = p.app.server.inject({ msgId: 20, data: 'f', ...from('198.51.100.1') })
    expect(stats()).toMatchObject({ busySource: 3, waves: 3 })
    const replies = await Promise.all([...flood, other])
    expect(replies.map((r) => r[0]!.data.toString())).toEqual(Array(6).fill(NOT_FOUND))
    // Settled names give their slots back.
    await p.app.server.inject({ msgId: 20, data: 'g', ...from('2001:db8:1:2::1') })
    expect(stats()).toMatchObject({ busySource: 3, waves: 4 })
  })

  it('a wave asks at most maxFanout nodes; the next wave asks the next ones, so every node is reached', async () => {
    const p = await b.start({ locator: { maxFanout: 3, timeoutMs: 200 } })
    const nodes = await Promise.all([1, 2, 3, 4, 5].map((i) => manualNode(p, `127.0.0.1:${7200 + i}`)))
    const c = await p.client('udp')
    await nodesLive(c, 5)
    await Promise.all([ask(c, 'x'), ask(c, 'y')])
    const asked = nodes.map((n) => n.frames.filter((f) => f.msgId === 20).length)
    expect(asked.reduce((a, n) => a + n, 0)).toBe(6)
    expect(asked.every((n) => n >= 1)).toBe(true)
    const stats = p.app.plugins.api<LocatorApi>('locator')!.stats()
    // Each node asked is sent the framed query (counted above) and, while its form is unknown, the bare name too.
    expect(stats).toMatchObject({ capped: 2 })
    expect(stats.queries - stats.rawQueries).toBe(6)
  })

  it('locate is rate-limited per source over TCP too, from the same declaration', async () => {
    const p = await b.start({}, {}, {})
    p.app.server.reconfigure({ ...p.app.server.config, udp: { ...p.app.server.config.udp, rateLimits: { '20': { perSec: 1, burst: 5, tcp: true } } } })
    const c = await FrameClient.connect(p.tcpPort)
    b.onCleanup(() => c.close())
    for (let i = 0; i < 12; i++) c.send(20, `r${i}`)
    await until(() => c.frames.length + p.app.server.counters['drop.rate-limit'] === 12, 5_000, 'every locate answered or dropped')
    expect(p.app.server.counters['drop.rate-limit']).toBeGreaterThanOrEqual(5)
    expect(c.frames.length).toBeGreaterThanOrEqual(5)
  })
})
