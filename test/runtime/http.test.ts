// The HTTP admin listener over real sockets: config rules, auth, GET /metrics
// (parsed back from the Prometheus text), /status, /events and their limits.
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, type Client } from '../../core/client/index.ts'
import { resolveConfig, withHttpToken } from '../../core/config.ts'
import net from 'node:net'
import pino from 'pino'
import { Feed, MAX_SUBSCRIBERS, MAX_UNREAD_BYTES, type FeedSource, type Totals } from '../../core/runtime/http/feed.ts'
import { HttpListener, MAX_SOCKETS, REQUEST_TIMEOUT_MS } from '../../core/runtime/http/listener.ts'
import type { Status } from '../../core/runtime/status.ts'
import { logSink } from '../helpers/logs.ts'
import { useCerts } from '../helpers/certs.ts'
import { createProject, echoPlugin, type Project } from '../helpers/project.ts'
import { events, get, type EventStream } from '../helpers/http.ts'
import { parseProm } from '../helpers/prom.ts'
import { until } from '../helpers/until.ts'
import { parseBlocks } from '../docs/blocks.ts'

const PLUGINS = fileURLToPath(new URL('../../plugins', import.meta.url))
const TOKEN = 'a-token-of-some-length'
const certs = useCerts()

const open: Array<{ close(): unknown }> = []
let project: Project | undefined
afterEach(async () => {
  for (const o of open.splice(0)) await o.close()
  await project?.close()
  project = undefined
})

async function start(files: Record<string, string> = {}, http: Record<string, unknown> = {}, dirs = ['plugins'], flags: Record<string, unknown> = {}): Promise<{ p: Project; port: number }> {
  project = await createProject(files, { flags: { admin: { socket: false }, http: { host: '127.0.0.1', port: 0, ...http }, plugins: { dirs }, ...flags } })
  return { p: project, port: project.app.observatory!.address()!.port }
}

async function client(p: Project, protocol: 'tcp' | 'udp'): Promise<Client> {
  const a = p.app.server.address()[protocol]!
  const c = connect(`${protocol}://127.0.0.1:${a.port}`)
  open.push(c)
  await c.ready()
  return c
}

/** The listener alone over a feed of the test's making, for its own limits; the feed ticks only when poked. */
async function bare(status: Record<string, unknown>, requestTimeoutMs?: number) {
  const logs = logSink()
  const log = pino({}, logs)
  const totals: Totals = { messages: 0, failed: 0, buckets: [], drops: {}, bytesIn: 0, bytesOut: 0 }
  const read: FeedSource['read'] = async () => ({ status: status as unknown as Status, totals })
  const feed = new Feed({ read }, log, 3_600_000)
  const listener = new HttpListener({ host: '127.0.0.1', port: 0 }, { log, feed, status: async () => (await read()).status, metrics: async () => ({ text: '', contentType: 'text/plain' }) }, requestTimeoutMs)
  open.push({ close: () => feed.close() }, { close: () => listener.close() })
  return { port: (await listener.listen()).port, feed, logs }
}

/** A raw socket to the listener that records what it receives and when (since `t0`) it closed. */
function rawSocket(port: number, t0: number) {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  open.push({ close: () => socket.destroy() })
  let received = ''
  socket.on('data', (d) => (received += d.toString('latin1')))
  const closed = new Promise<{ ms: number; received: string }>((resolve) => socket.on('close', () => resolve({ ms: performance.now() - t0, received })))
  return { socket, closed }
}

const scrape = async (port: number, headers: Record<string, string> = {}) => {
  const r = await get(port, '/metrics', headers)
  expect(r.status).toBe(200)
  expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
  return parseProm(r.body)
}

describe('http config', () => {
  it('is off unless set, loopback by default, and refuses a non-loopback host without a token in one line naming http.token', () => {
    expect(resolveConfig({}).http).toBeUndefined()
    expect(resolveConfig({ http: {} }).http).toEqual({ host: '127.0.0.1', port: 9430 })
    expect(() => resolveConfig({ http: { host: '0.0.0.0' } }, 'enet.config.ts')).toThrow(
      /^invalid config: enet\.config\.ts: http\.token: required when http\.host "0\.0\.0\.0" is not a loopback address/,
    )
    expect(resolveConfig({ http: { host: '0.0.0.0', token: TOKEN } }).http).toMatchObject({ host: '0.0.0.0', token: TOKEN })
    expect(() => resolveConfig({ http: { token: 'short' } })).toThrow(/http\.token: a token of at least 16 characters/)
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) expect(resolveConfig({ http: { host } }).http?.host).toBe(host)
  })

  it('takes ENET_HTTP_TOKEN only once the listener is on', () => {
    expect(withHttpToken({}, { ENET_HTTP_TOKEN: TOKEN })).toEqual({})
    expect(withHttpToken({ http: { port: 1 } }, { ENET_HTTP_TOKEN: TOKEN })).toEqual({ http: { port: 1, token: TOKEN } })
    expect(withHttpToken({ http: { token: 'from-the-file-0123' } }, { ENET_HTTP_TOKEN: TOKEN })).toEqual({ http: { token: 'from-the-file-0123' } })
  })
})

describe('GET /metrics', () => {
  it('counts connections, requests by msgId and outcome with durations, drops, closes, bytes and plugin loads', async () => {
    const failing = `export default { name: 'failing', routes: { 2: () => { throw new Error('boom') } } }\n`
    const slow = `export default { name: 'slow', routes: { 3: async (req) => { await new Promise((r) => setTimeout(r, 8)); req.reply(3, 'late') } } }\n`
    const { p, port } = await start({ 'plugins/echo/index.ts': echoPlugin('v1'), 'plugins/failing/index.ts': failing, 'plugins/slow/index.ts': slow })
    const tcp = await client(p, 'tcp')
    for (let i = 0; i < 3; i++) expect((await tcp.request(1, `hi${i}`, { timeoutMs: 2_000 })).data.toString()).toBe(`v1:hi${i}`)
    tcp.send(2, 'x')
    tcp.send(4242, 'nobody routes this')
    await until(() => p.app.server.counters['drop.unknown-msgid'] === 1 && p.app.server.counters.failed === 1)
    const udp = await client(p, 'udp')
    await udp.request(1, 'u', { timeoutMs: 2_000 })
    for (let i = 0; i < 2; i++) await tcp.request(3, '', { timeoutMs: 2_000 })

    const m = await scrape(port)
    expect(m.types.get('enet_requests_total')).toBe('counter')
    expect(m.types.get('enet_request_duration_seconds')).toBe('histogram')
    expect(m.value('enet_connections', { protocol: 'tcp' })).toBe(1)
    expect(m.value('enet_connections', { protocol: 'udp' })).toBe(1)
    expect(m.value('enet_requests_total', { msg_id: '1', outcome: 'ok' })).toBe(4)
    expect(m.value('enet_requests_total', { msg_id: '2', outcome: 'error' })).toBe(1)
    expect(m.value('enet_requests_total', { msg_id: '2', outcome: 'ok' })).toBe(0)
    expect(m.samples.some((s) => s.labels.msg_id === '4242')).toBe(false)
    expect(m.value('enet_dropped_total', { reason: 'unknown-msgid' })).toBe(1)
    expect(m.value('enet_messages_received_total')).toBe(8)
    expect(m.value('enet_requests_total', { msg_id: '3', outcome: 'ok' })).toBe(2)
    // Async requests are all timed (an 8 ms handler lands above the 5 ms bucket); one sync request in 64 is.
    expect(m.value('enet_request_duration_seconds_count', { msg_id: '3' })).toBe(2)
    expect(m.value('enet_request_duration_seconds_bucket', { msg_id: '3', le: '0.005' })).toBe(0)
    expect(m.value('enet_request_duration_seconds_bucket', { msg_id: '3', le: '+Inf' })).toBe(2)
    expect(m.value('enet_request_duration_seconds_sum', { msg_id: '3' })).toBeGreaterThan(0.01)
    expect(m.value('enet_request_duration_seconds_count', { msg_id: '1' })).toBe(0)
    // Buckets are cumulative.
    const buckets = m.samples.filter((s) => s.name === 'enet_request_duration_seconds_bucket' && s.labels.msg_id === '3').map((s) => s.value)
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b))
    // 3 + 2 requests and 2 fire-and-forget frames of 8-byte headers + data, then one UDP datagram (4-byte header).
    expect(m.value('enet_received_bytes_total', { protocol: 'tcp' })).toBe(3 * (8 + 3) + (8 + 1) + (8 + 18) + 2 * 8)
    expect(m.value('enet_received_bytes_total', { protocol: 'udp' })).toBe(4 + 1)
    expect(m.value('enet_sent_bytes_total', { protocol: 'tcp' })).toBe(3 * (8 + 6) + 2 * (8 + 4))
    expect(m.value('enet_sent_bytes_total', { protocol: 'udp' })).toBe(4 + 4)
    expect(m.value('enet_outbound_queued_bytes')).toBe(0)
    expect(m.value('enet_plugin_version', { plugin: 'echo' })).toBe(1)
    expect(m.value('enet_plugin_reloads_total', { plugin: 'echo', outcome: 'loaded' })).toBe(1)
    expect(m.value('enet_plugin_reload_duration_seconds_count', { plugin: 'echo' })).toBe(1)
    // Node's default metrics, under their standard names.
    expect(m.types.get('nodejs_eventloop_lag_seconds')).toBe('gauge')
    expect(m.value('nodejs_heap_size_used_bytes')).toBeGreaterThan(0)

    await tcp.close()
    await until(() => p.app.server.manager.streamCount === 0)
    p.write('plugins/echo/index.ts', echoPlugin('v2'))
    await p.app.plugins.reload('echo')
    const after = await scrape(port)
    expect(after.value('enet_connections', { protocol: 'tcp' })).toBe(0)
    expect(after.value('enet_connections_opened_total', { protocol: 'tcp' })).toBe(1)
    expect(after.value('enet_connections_closed_total', { protocol: 'tcp', reason: 'peer-closed' })).toBe(1)
    expect(after.value('enet_received_bytes_total', { protocol: 'tcp' })).toBe(m.value('enet_received_bytes_total', { protocol: 'tcp' }))
    expect(after.value('enet_plugin_version', { plugin: 'echo' })).toBe(2)
    expect(after.value('enet_plugin_reloads_total', { plugin: 'echo', outcome: 'reloaded' })).toBe(1)
  })

  it('counts the frame bytes of WebSocket and TLS connections under their own protocol, in the dashboard totals too, and keeps them once closed', async () => {
    const cert = certs.make('metrics')
    const { p, port } = await start({ 'plugins/echo/index.ts': echoPlugin('v1') }, {}, ['plugins'], {
      ws: { host: '127.0.0.1', port: 0 },
      tls: { host: '127.0.0.1', port: 0, cert: cert.cert, key: cert.key },
    })
    const feed = await events(port)
    open.push(feed)
    const a = p.app.server.address()
    const ws = connect(`ws://127.0.0.1:${a.ws!.port}/`, { reconnect: false })
    const tls = connect(`tls://127.0.0.1:${a.tls!.port}`, { reconnect: false, tls: { ca: cert.pem } })
    open.push(ws, tls)
    for (let i = 0; i < 3; i++) expect((await ws.request(1, `hi${i}`, { timeoutMs: 2_000 })).data.toString()).toBe(`v1:hi${i}`)
    for (let i = 0; i < 2; i++) expect((await tls.request(1, `tls${i}`, { timeoutMs: 2_000 })).data.toString()).toBe(`v1:tls${i}`)

    // The enet frames (8-byte header + data), as TCP counts them: no WebSocket framing, no TLS records or handshake.
    const wsIn = 3 * (8 + 3)
    const wsOut = 3 * (8 + 6)
    const tlsIn = 2 * (8 + 4)
    const tlsOut = 2 * (8 + 7)
    const m = await scrape(port)
    expect(m.value('enet_received_bytes_total', { protocol: 'ws' })).toBe(wsIn)
    expect(m.value('enet_sent_bytes_total', { protocol: 'ws' })).toBe(wsOut)
    expect(m.value('enet_received_bytes_total', { protocol: 'tls' })).toBe(tlsIn)
    expect(m.value('enet_sent_bytes_total', { protocol: 'tls' })).toBe(tlsOut)
    expect(m.value('enet_received_bytes_total', { protocol: 'tcp' })).toBe(0)
    expect(m.value('enet_sent_bytes_total', { protocol: 'tcp' })).toBe(0)
    expect(JSON.parse((await get(port, '/status')).body).traffic).toMatchObject({ ws: { in: wsIn, out: wsOut }, tls: { in: tlsIn, out: tlsOut }, tcp: { in: 0, out: 0 } })
    // The dashboard's samples are differences of totals(): over every sample they add up to these bytes.
    const sum = (k: 'bytesIn' | 'bytesOut') =>
      feed.events.flatMap((e) => (e.event === 'hello' ? e.data.samples : e.data.sample ? [e.data.sample] : [])).reduce((n: number, s: Record<string, number>) => n + s[k]!, 0)
    await until(() => sum('bytesIn') === wsIn + tlsIn && sum('bytesOut') === wsOut + tlsOut, 5_000, 'dashboard samples adding up to the ws and tls bytes')

    await ws.close()
    await tls.close()
    await until(() => p.app.server.manager.streamCount === 0)
    const after = await scrape(port)
    expect(after.value('enet_connections_closed_total', { protocol: 'ws', reason: 'peer-closed' })).toBe(1)
    expect(after.value('enet_connections_closed_total', { protocol: 'tls', reason: 'peer-closed' })).toBe(1)
    for (const [protocol, inb, outb] of [['ws', wsIn, wsOut], ['tls', tlsIn, tlsOut]] as const) {
      expect(after.value('enet_received_bytes_total', { protocol })).toBe(inb)
      expect(after.value('enet_sent_bytes_total', { protocol })).toBe(outb)
    }
  })

  it('times one synchronous request in 64 and counts every one, across a reload of the route', async () => {
    const { p, port } = await start({ 'plugins/echo/index.ts': echoPlugin('v1') })
    const tcp = await client(p, 'tcp')
    for (let i = 0; i < 140; i++) await tcp.request(1, 'x', { timeoutMs: 2_000 })
    const m = await scrape(port)
    expect(m.value('enet_requests_total', { msg_id: '1', outcome: 'ok' })).toBe(140)
    expect(m.value('enet_request_duration_seconds_count', { msg_id: '1' })).toBe(2)
    expect(m.value('enet_request_duration_seconds_bucket', { msg_id: '1', le: '+Inf' })).toBe(2)
    // The new version's route counts on from the old one's (the count belongs to the msgId).
    p.write('plugins/echo/index.ts', echoPlugin('v2'))
    await p.app.plugins.reload('echo')
    for (let i = 0; i < 3; i++) expect((await tcp.request(1, 'y', { timeoutMs: 2_000 })).data.toString()).toBe('v2:y')
    expect((await scrape(port)).value('enet_requests_total', { msg_id: '1', outcome: 'ok' })).toBe(143)
  })

  it('exposes what the serving plugin version declares through ctx.metrics, read at scrape time; a bad declaration fails setup', async () => {
    const declaring = (tag: string, extra = '') => `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'my-plugin',
  setup(ctx) {
    ctx.data.n ??= 0
    ctx.metrics.gauge({ name: 'things', help: 'Things held.', collect: () => ctx.data.n })
    ctx.metrics.counter({ name: 'seen_total', help: 'Things seen, by kind.', labelNames: ['kind'], collect: () => [{ labels: { kind: '${tag}' }, value: 7 }] })
    ${extra}
  },
  routes: (ctx) => ({ 5: (req) => { ctx.data.n++; req.reply(5, '${tag}') } }),
})
`
    const { p, port } = await start({ 'plugins/mine/index.ts': declaring('a') })
    const tcp = await client(p, 'tcp')
    await tcp.request(5, '', { timeoutMs: 2_000 })
    let m = await scrape(port)
    expect(m.types.get('enet_my_plugin_things')).toBe('gauge')
    expect(m.value('enet_my_plugin_things')).toBe(1)
    expect(m.value('enet_my_plugin_seen_total', { kind: 'a' })).toBe(7)

    p.write('plugins/mine/index.ts', declaring('b'))
    await p.app.plugins.reload('my-plugin')
    m = await scrape(port)
    expect(m.value('enet_my_plugin_things')).toBe(1)
    expect(m.sum('enet_my_plugin_seen_total', { kind: 'a' })).toBe(0)
    expect(m.value('enet_my_plugin_seen_total', { kind: 'b' })).toBe(7)

    for (const [bad, why] of [
      [`ctx.metrics.counter({ name: 'seen', help: 'x', collect: () => 1 })`, /metric "seen": a counter name ends in _total/],
      [`ctx.metrics.gauge({ name: 'Bad-Name', help: 'x', collect: () => 1 })`, /metric "Bad-Name": expected a snake_case name/],
      [`ctx.metrics.gauge({ name: 'things', help: 'again', collect: () => 1 })`, /metric "things": declared twice/],
    ] as const) {
      p.write('plugins/mine/index.ts', declaring('c', bad))
      await expect(p.app.plugins.reload('my-plugin')).resolves.toMatchObject({ version: 2, lastError: expect.stringMatching(why) })
    }
    // The version that serves keeps its metrics.
    expect((await scrape(port)).value('enet_my_plugin_seen_total', { kind: 'b' })).toBe(7)

    p.remove('plugins/mine')
    await p.app.plugins.sync(p.app.plugins.get('my-plugin')!.dir)
    m = await scrape(port)
    expect(m.samples.some((s) => s.name.startsWith('enet_my_plugin_'))).toBe(false)
    expect(m.value('enet_plugin_version', { plugin: 'my-plugin' })).toBe(0)
  })

  it('a collect() that throws empties only its own metric and logs why', async () => {
    const plugin = `export default { name: 'flaky', setup(ctx) {
  ctx.metrics.gauge({ name: 'broken', help: 'Throws.', collect: () => { throw new Error('no value today') } })
  ctx.metrics.gauge({ name: 'fine', help: 'Works.', collect: () => 3 })
} }\n`
    const { p, port } = await start({ 'plugins/flaky/index.ts': plugin })
    const m = await scrape(port)
    expect(m.sum('enet_flaky_broken')).toBe(0)
    expect(m.value('enet_flaky_fine')).toBe(3)
    expect(p.logs.find('metric enet_flaky_broken collect() threw')).toHaveLength(1)
  })

  it('shows the bundled plugins: registry size, beats and locates by outcome', async () => {
    const { p, port } = await start({}, {}, [PLUGINS])
    const udp = await client(p, 'udp')
    udp.send(10, '127.0.0.1:7001')
    udp.send(10, '127.0.0.1:7001')
    await until(() => p.app.server.counters.requests === 2)
    // Asked over TCP: the locator's query goes to the UDP client, which beat as the node and does not answer.
    const tcp = await client(p, 'tcp')
    expect((await tcp.request(20, 'movie.mp4', { timeoutMs: 3_000 })).data.toString()).toBe('没有找到')
    const m = await scrape(port)
    expect(m.value('enet_heartbeat_nodes')).toBe(1)
    expect(m.value('enet_heartbeat_beats_total', { result: 'registered' })).toBe(1)
    expect(m.value('enet_heartbeat_beats_total', { result: 'refreshed' })).toBe(1)
    expect(m.value('enet_locator_locates_total', { outcome: 'not_found' })).toBe(1)
    expect(m.value('enet_locator_locates_total', { outcome: 'found' })).toBe(0)

    // README.md's scrape example names only metrics that exist, with these labels.
    udp.send(21, 'movie.mp4\n127.0.0.1:7001')
    await until(() => p.app.server.counters.requests === 4)
    const after = await scrape(port)
    const block = parseBlocks('README.md').find((b) => b.kind === 'pinned' && b.args.by?.[0] === 'test/runtime/http.test.ts')
    expect(block, 'README.md has the scrape example pinned to this file').toBeDefined()
    const shown = parseProm(block!.text.split('\n').filter((l) => !l.startsWith('$ ')).join('\n')).samples
    expect(shown.length).toBeGreaterThan(5)
    for (const s of shown) expect(after.samples.some((x) => x.name === s.name && JSON.stringify(x.labels) === JSON.stringify(s.labels)), `${s.name} ${JSON.stringify(s.labels)}`).toBe(true)
  })
})

describe('auth and limits', () => {
  it('with a token: the page is served, data needs Authorization: Bearer', async () => {
    const { port } = await start({}, { token: TOKEN })
    expect((await get(port, '/')).status).toBe(200)
    for (const path of ['/metrics', '/status', '/events']) {
      const none = await get(port, path)
      expect(none.status).toBe(401)
      expect(none.headers['www-authenticate']).toBe('Bearer')
      expect((await get(port, path, { authorization: 'Bearer not-the-token-at-all' })).status).toBe(401)
    }
    expect((await get(port, '/status', { authorization: `Bearer ${TOKEN}` })).status).toBe(200)
    expect((await scrape(port, { authorization: `Bearer ${TOKEN}` })).value('enet_connections', { protocol: 'tcp' })).toBe(0)
  })

  it('without a token, a Host that is not a loopback name is refused (DNS rebinding); other methods and paths get 405 and 404', async () => {
    const { port } = await start()
    expect((await get(port, '/status', { host: 'attacker.example:9430' })).status).toBe(403)
    expect((await get(port, '/', { host: 'attacker.example' })).status).toBe(403)
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]) expect((await get(port, '/status', { host })).status).toBe(200)
    expect((await get(port, '/status', {}, 'POST')).status).toBe(405)
    expect((await get(port, '/nothing')).status).toBe(404)
    const page = await get(port, '/')
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/)
  })

  it(`holds at most ${MAX_SOCKETS} sockets: one more is closed at accept, and a held one still gets its answer`, async () => {
    const { port } = await start()
    const sockets = await Promise.all(
      Array.from({ length: MAX_SOCKETS + 1 }, () => new Promise<net.Socket>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => resolve(s))
        s.on('error', () => {})
      })),
    )
    for (const s of sockets) open.push({ close: () => s.destroy() })
    const closed = () => sockets.filter((s) => s.readyState !== 'open' || s.destroyed)
    await until(() => closed().length >= 1, 5_000, 'the socket over the bound closed')
    expect(closed()).toHaveLength(1)
    // A held socket is a live one: its request is answered.
    const held = sockets.find((s) => !closed().includes(s))!
    const reply = new Promise<string>((resolve) => held.once('data', (d) => resolve(d.toString('latin1'))))
    held.write(`GET /status HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: close\r\n\r\n`)
    expect(await reply).toMatch(/^HTTP\/1\.1 200/)
  })

  it(`a request must arrive whole within the request timeout (${REQUEST_TIMEOUT_MS / 1000} s): a half-sent one, trickling or silent, gets 408 and is closed; another socket is served`, async () => {
    const timeoutMs = 400
    const { port } = await bare({ name: 'bare' }, timeoutMs)
    // Before connecting: the server starts each socket's clock after this, so no close can come sooner than timeoutMs after it.
    const t0 = performance.now()
    const slow = rawSocket(port, t0)
    slow.socket.write(`GET /status HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n`)
    const silent = rawSocket(port, t0)
    // Slowloris: a header line now and then never completes the request, and never extends its time.
    let n = 0
    const trickle = setInterval(() => slow.socket.write(`x-slow-${n++}: 1\r\n`), timeoutMs / 8)
    try {
      const served = await get(port, '/status')
      expect(served.status).toBe(200)
      expect(JSON.parse(served.body)).toEqual({ name: 'bare' })
      for (const { closed } of [slow, silent]) {
        const { ms, received } = await closed
        expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
        // A lower bound only: a loaded machine can delay the close, never bring it forward.
        expect(ms).toBeGreaterThanOrEqual(timeoutMs)
      }
    } finally {
      clearInterval(trickle)
    }
  })

  it(`/events: a subscriber that leaves over ${MAX_UNREAD_BYTES / 1024 / 1024} MiB unread is dropped with a warning; one that reads keeps receiving`, async () => {
    // A 256 KiB snapshot per event fills the kernel's buffers and then the limit in a few dozen events.
    const { port, feed, logs } = await bare({ name: 'bare', padding: 'x'.repeat(256 * 1024) })
    const reader = await events(port)
    open.push(reader)
    await until(() => feed.subscribers === 1)
    const stalled = rawSocket(port, performance.now())
    stalled.socket.write(`GET /events HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n\r\n`)
    // It reads the response head and stops reading: the socket's window closes once the kernel's buffers are full.
    await new Promise<void>((resolve) => stalled.socket.once('data', () => resolve(void stalled.socket.pause())))
    await until(() => feed.subscribers === 2)
    let sent = 0
    while (feed.subscribers === 2) {
      const seen = reader.events.length
      feed.poke()
      await until(() => reader.events.length > seen, 5_000, 'the reader receiving the snapshot')
      // 200 × 256 KiB: far past what loopback buffers hold.
      if (++sent > 200) throw new Error('the stalled subscriber was never dropped')
    }
    const dropped = logs.find('dashboard subscriber dropped')
    expect(dropped).toHaveLength(1)
    expect(dropped[0]).toMatchObject({ remote: `127.0.0.1:${stalled.socket.localPort}`, limit: MAX_UNREAD_BYTES })
    expect(dropped[0]!.unread).toBeGreaterThan(MAX_UNREAD_BYTES)
    // The reader still receives every event.
    const seen = reader.events.length
    feed.poke()
    await until(() => reader.events.length === seen + 1)
    expect(reader.events.at(-1)).toMatchObject({ event: 'tick', data: { status: { name: 'bare' } } })
    expect(feed.subscribers).toBe(1)
    // The dropped one was closed: reading again, it gets what the kernel still held, then its end.
    stalled.socket.resume()
    const { received } = await stalled.closed
    expect(received).toMatch(/^HTTP\/1\.1 200 /)
  })

  it(`/events: history and a snapshot at once, a tick after a plugin event; subscriber ${MAX_SUBSCRIBERS + 1} is answered 503`, async () => {
    const { p, port } = await start({ 'plugins/echo/index.ts': echoPlugin('v1') })
    const streams: EventStream[] = []
    for (let i = 0; i < MAX_SUBSCRIBERS; i++) streams.push(await events(port))
    open.push(...streams)
    const first = streams[0]!
    expect(first.status).toBe(200)
    await until(() => first.events.length >= 1)
    expect(first.events[0]).toMatchObject({ event: 'hello', data: { samples: expect.any(Array), status: { plugins: { echo: { version: 1 } } } } })
    const extra = await get(port, '/events')
    expect(extra.status).toBe(503)
    p.write('plugins/echo/index.ts', echoPlugin('v2'))
    await p.app.plugins.reload('echo')
    await until(() => first.events.some((e) => e.event === 'tick' && e.data.status.plugins.echo.version === 2), 3_000, 'a tick with echo v2')
    for (const s of streams.splice(1)) s.close()
    await until(() => p.app.observatory!.feed!.subscribers === 1)
  })
})

describe('a server that does not serve http itself (a --workers worker)', () => {
  it('keeps no sampler of its own; its metrics, totals and status are read when the primary asks', async () => {
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('v1') }, { flags: { admin: { socket: false }, http: { host: '127.0.0.1', port: 0 } }, serveHttp: false })
    const o = project.app.observatory!
    expect(o.address()).toBeUndefined()
    expect(o.feed).toBeNull()
    const tcp = await client(project, 'tcp')
    await tcp.request(1, 'x', { timeoutMs: 2_000 })
    // What core/cli/workers.ts answers the primary's 'metrics' and 'feed' requests with.
    const requests = (await o.metrics.getMetricsAsJSON()).find((m) => m.name === 'enet_requests_total')!
    expect(requests.values).toContainEqual({ labels: { msg_id: 1, outcome: 'ok' }, value: 1 })
    expect(o.totals()).toMatchObject({ messages: 1, bytesIn: 8 + 1, bytesOut: 8 + 4 })
    expect(project.app.status()).toMatchObject({ connections: 1, counters: { requests: 1 } })
    // A plugin event finds no feed to poke, and its taps run clean.
    project.write('plugins/echo/index.ts', echoPlugin('v2'))
    await project.app.plugins.reload('echo')
    expect((await tcp.request(1, 'y', { timeoutMs: 2_000 })).data.toString()).toBe('v2:y')
    expect(project.logs.find('onPluginEvent tap threw')).toEqual([])
  })
})

describe('GET /status', () => {
  it('is the snapshot enet status prints: plugins with version, routes, last reload and error, connections, limits', async () => {
    const { p, port } = await start({ 'plugins/echo/index.ts': echoPlugin('v1') }, {}, [PLUGINS, 'plugins'])
    const udp = await client(p, 'udp')
    udp.send(10, '127.0.0.1:7001')
    await until(() => p.app.server.counters.requests === 1)
    p.write('plugins/echo/index.ts', 'export default { name: "echo", routes: { 1: "not a handler" } }\n')
    await p.app.plugins.reload('echo')
    const r = await get(port, '/status')
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8')
    const status = JSON.parse(r.body)
    expect(Object.keys(status).sort()).toEqual(Object.keys(p.app.status()).sort())
    expect(status).toMatchObject({
      address: { http: { host: '127.0.0.1', port } },
      connections: 1,
      connectionsByProtocol: { tcp: 0, udp: 1 },
      limits: { maxConn: 10_000, handlerTimeoutMs: 5_000, udp: { maxPeers: 10_000 } },
    })
    expect(status.plugins.echo).toMatchObject({ version: 1, status: 'active', routes: [1], lastError: expect.stringMatching(/echo/), lastReload: { outcome: 'failed' } })
    expect(status.plugins.echo.reloads.map((e: { outcome: string }) => e.outcome)).toEqual(['loaded', 'failed'])
    expect(status.plugins.heartbeat.report.nodes).toEqual([
      { node: '127.0.0.1:7001', source: expect.stringMatching(/^udp 127\.0\.0\.1:\d+$/), ageMs: expect.any(Number), lastBeatMs: expect.any(Number), expiresInMs: expect.any(Number) },
    ])
  })
})
