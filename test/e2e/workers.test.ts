// enet start --workers 2 as real processes: the TCP port (and WebSocket's and
// TLS's) is shared by both workers, UDP is served by one (replies from the listening port), the admin
// socket shows every worker, a plugin save reloads all of them and a broken
// one is refused by all, and SIGTERM drains every worker.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { adminRequest } from '../../core/runtime/admin.ts'
import { connect, type Client } from '../../core/client/index.ts'
import { useCerts } from '../helpers/certs.ts'
import { FrameClient } from '../helpers/frames.ts'
import { UdpClient } from '../helpers/udp.ts'
import { startEnet, type EnetProcess } from '../helpers/enet-process.ts'
import { until } from '../helpers/until.ts'
import { startProducer } from '../../examples/producer.ts'

const PLUGINS = fileURLToPath(new URL('../../plugins', import.meta.url))
import { events, get } from '../helpers/http.ts'
import { parseProm } from '../helpers/prom.ts'

const certs = useCerts()
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

/** msgId 30 answers `<tag>:<pid>` after `data` ms: which worker served it, and a request that can be in flight. */
const whoPlugin = (tag: string) => `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'who',
  routes: (ctx) => ({
    30: { concurrent: true, async handle(req) {
      const ms = Number(req.text()) || 0
      if (ms > 0) ctx.log.info({ ms }, 'slow request started')
      await new Promise((r) => setTimeout(r, ms))
      req.reply(30, '${tag}:' + process.pid)
    } },
  }),
})
`

async function project(opts: { bundled?: boolean } = {}): Promise<{ dir: string; sock: string; plugin: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'enet-workers-'))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  await mkdir(join(dir, 'plugins', 'who'), { recursive: true })
  const plugin = join(dir, 'plugins', 'who', 'index.ts')
  await writeFile(plugin, whoPlugin('v1'))
  await writeFile(
    join(dir, 'enet.config.ts'),
    `import { defineConfig } from 'enet'
export default defineConfig({ log: { level: 'info', pretty: false }, plugins: { debounceMs: 20${opts.bundled ? `, dirs: [${JSON.stringify(PLUGINS)}, 'plugins'], options: { heartbeat: { ttlMs: 1000 } }` : ''} } })
`,
  )
  return { dir, sock: join(dir, '.enet', 'admin.sock'), plugin }
}

async function start(dir: string, extra: string[] = []): Promise<{ enet: EnetProcess; tcp: number; udp: number; http: number }> {
  const enet = startEnet(['--workers', '2', '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', ...extra], { cwd: dir })
  cleanups.push(async () => {
    if (enet.proc.exitCode === null && enet.proc.signalCode === null) enet.proc.kill('SIGKILL')
    await enet.exit
  })
  const ports = await enet.ports
  return { enet, ...ports, http: ports.http ?? 0 }
}

async function tcp(port: number): Promise<FrameClient> {
  const c = await FrameClient.connect(port)
  cleanups.push(() => c.close())
  return c
}

interface Row {
  worker: number
  name: string
  version: number
  lastError: string | null
}
const whoRows = async (sock: string) => ((await adminRequest(sock, { cmd: 'plugins' })).plugins as Row[]).filter((r) => r.name === 'who')

describe('enet start --workers 2', () => {
  it('--http: one scrape of the primary shows every worker (AggregatorRegistry); /status and the feed add them up', async () => {
    const p = await project()
    const { http, tcp: tcpPort } = await start(p.dir, ['--http', '127.0.0.1:0'])
    expect(http).toBeGreaterThan(0)
    const clients = await Promise.all(Array.from({ length: 6 }, () => tcp(tcpPort)))
    const served = await Promise.all(clients.map(async (c) => (await c.request(30, '0', 5_000)).text))
    expect(new Set(served.map((s) => s.split(':')[1])).size).toBe(2)

    const res = await get(http, '/metrics')
    expect(res.status).toBe(200)
    const m = parseProm(res.body)
    expect(m.value('enet_workers_up')).toBe(2)
    expect(m.value('enet_requests_total', { msg_id: '30', outcome: 'ok' })).toBe(6)
    expect(m.value('enet_request_duration_seconds_count', { msg_id: '30' })).toBe(6)
    expect(m.value('enet_connections', { protocol: 'tcp' })).toBe(6)
    expect(m.value('enet_plugin_version', { plugin: 'who' })).toBe(1)

    const status = JSON.parse((await get(http, '/status')).body)
    expect(status.workers.map((w: { worker: number }) => w.worker)).toEqual([0, 1])
    expect(status).toMatchObject({ connections: 6, connectionsByProtocol: { tcp: 6, udp: 0 }, counters: { requests: 6 }, plugins: { who: { version: 1 } } })
    const feed = await events(http)
    cleanups.push(() => feed.close())
    await until(() => feed.events.some((e) => e.event === 'hello'), 10_000, 'the feed hello')
    expect(feed.events[0]!.data.status).toMatchObject({ connections: 6, workers: [{ worker: 0 }, { worker: 1 }] })
    // The samples are differences of the workers' totals, which they give when the primary asks: once a
    // sampled tick came, the requests sent after it add up over the next ones, from both workers.
    await until(() => feed.events.some((e) => e.event === 'tick' && e.data.sample), 10_000, 'a sampled tick')
    const from = feed.events.length
    await Promise.all(clients.map((c) => c.request(30, '0', 5_000)))
    const sampled = (k: 'messages' | 'bytesIn') => feed.events.slice(from).reduce((n, e) => n + (e.event === 'tick' && e.data.sample ? e.data.sample[k] : 0), 0)
    await until(() => sampled('messages') === 6 && sampled('bytesIn') === 6 * (8 + 1), 10_000, 'samples counting the 6 requests sent to both workers')
  })

  it('shares the TCP port across both workers, UDP replies from the listening port, status and plugins show both workers', async () => {
    const p = await project()
    const { tcp: tcpPort, udp: udpPort } = await start(p.dir)
    const clients = await Promise.all(Array.from({ length: 6 }, () => tcp(tcpPort)))
    const served = await Promise.all(clients.map(async (c) => (await c.request(30, '0', 5_000)).text))
    const pids = new Set(served.map((s) => Number(s.split(':')[1])))
    expect(pids.size).toBe(2)

    const status = await adminRequest(p.sock, { cmd: 'status' })
    const workers = status.workers as Array<{ worker: number; pid: number; connections: number; address: { udp?: unknown } }>
    expect(workers.map((w) => w.worker)).toEqual([0, 1])
    expect(new Set(workers.map((w) => w.pid))).toEqual(pids)
    expect(workers.every((w) => w.connections > 0)).toBe(true)
    expect(status.connections).toBe(workers.reduce((n, w) => n + w.connections, 0))
    expect(status.counters).toMatchObject({ requests: 6 })
    // Worker 0 owns UDP; worker 1 has none.
    expect(workers[0]!.address.udp).toMatchObject({ port: udpPort })
    expect(workers[1]!.address.udp).toBeUndefined()

    // One peer's datagrams all reach worker 0, in order, and every reply leaves from the listening port.
    const u = await UdpClient.open(udpPort)
    cleanups.push(() => u.close())
    const fromPorts = new Set<number>()
    u.socket.on('message', (_m, rinfo) => void fromPorts.add(rinfo.port))
    for (let i = 0; i < 5; i++) await u.send(30, '0')
    const replies = await u.waitFrames(5, 5_000)
    expect(new Set(replies.map((r) => r.text))).toEqual(new Set([`v1:${workers[0]!.pid}`]))
    expect([...fromPorts]).toEqual([udpPort])

    expect((await whoRows(p.sock)).map((r) => [r.worker, r.version])).toEqual([
      [0, 1],
      [1, 1],
    ])
  })

  it('--ws and --tls beside TCP: the listening line and log name both ports, shared by both workers', async () => {
    const p = await project()
    const cert = certs.make('workers')
    const { enet } = await start(p.dir, ['--ws', '127.0.0.1:0', '--tls', '127.0.0.1:0', '--tls-cert', cert.cert, '--tls-key', cert.key])
    const ports = await enet.ports
    expect(ports.ws).toBeGreaterThan(0)
    expect(ports.tls).toBeGreaterThan(0)
    expect(await enet.waitLog((l) => l.msg === 'listening')).toMatchObject({ ws: { port: ports.ws }, tls: { port: ports.tls } })
    const open = (url: string, o: Parameters<typeof connect>[1] = {}) => {
      const c = connect(url, { reconnect: false, ...o })
      cleanups.push(() => c.close())
      return c
    }
    const clients: Client[] = [
      ...Array.from({ length: 6 }, () => open(`ws://127.0.0.1:${ports.ws}/`)),
      ...Array.from({ length: 6 }, () => open(`tls://127.0.0.1:${ports.tls}`, { tls: { ca: cert.pem } })),
    ]
    const served = await Promise.all(clients.map(async (c) => (await c.request(30, '0', { timeoutMs: 5_000 })).data.toString()))
    // Each protocol's connections are spread over both workers (round robin through the primary).
    expect(new Set(served.slice(0, 6).map((s) => s.split(':')[1])).size).toBe(2)
    expect(new Set(served.slice(6).map((s) => s.split(':')[1])).size).toBe(2)
  })

  it('a plugin save reloads every worker; a broken save is refused by every worker and v2 keeps serving both', async () => {
    const p = await project()
    const { tcp: tcpPort } = await start(p.dir)
    await writeFile(p.plugin, whoPlugin('v2'))
    await waitRows(p.sock, (rows) => rows.length === 2 && rows.every((r) => r.version === 2 && r.lastError === null))
    await writeFile(p.plugin, whoPlugin('v3').replace('definePlugin({', 'definePlugin({ ('))
    await waitRows(p.sock, (rows) => rows.length === 2 && rows.every((r) => r.version === 2 && r.lastError !== null))
    const clients = await Promise.all(Array.from({ length: 4 }, () => tcp(tcpPort)))
    const served = await Promise.all(clients.map(async (c) => (await c.request(30, '0', 5_000)).text))
    expect(served.every((s) => s.startsWith('v2:'))).toBe(true)
    expect(new Set(served.map((s) => s.split(':')[1])).size).toBe(2)
  })

  it('without Redis the workers share one registry through the primary: a beat at worker 0 is listed by both; a locate at worker 1 reaches a node beating to worker 0', async () => {
    const p = await project({ bundled: true })
    const { tcp: tcpPort, udp: udpPort } = await start(p.dir)
    const holder = await startProducer({ server: `127.0.0.1:${udpPort}`, intervalMs: 200, resources: ['movie.mp4'] })
    cleanups.push(() => holder.stop())
    // Connections go round-robin: among four, each worker serves some (told apart by msgId 30's pid).
    const clients = await Promise.all(Array.from({ length: 4 }, () => tcp(tcpPort)))
    const pidOf = await Promise.all(clients.map(async (c) => (await c.request(30, '0', 5_000)).text.split(':')[1]))
    expect(new Set(pidOf).size).toBe(2)
    for (const c of clients) {
      let list = ''
      const deadline = Date.now() + 5_000
      while (!list.includes(holder.node) && Date.now() < deadline) list = (await c.request(11, '', 2_000)).text
      expect(list).toBe(holder.node + ' ')
    }
    const workers = ((await adminRequest(p.sock, { cmd: 'status' })).workers as Array<{ worker: number; pid: number }>)
    const atWorker1 = clients[pidOf.indexOf(String(workers[1]!.pid))]!
    expect((await atWorker1.request(20, 'movie.mp4', 5_000)).text).toBe(holder.node)
    expect((await atWorker1.request(20, 'song.mp3', 5_000)).text).toBe('没有找到')
  })

  it('SIGTERM drains every worker: requests in flight on both are answered, each worker closes, exit 0', async () => {
    const p = await project()
    const { enet, tcp: tcpPort } = await start(p.dir)
    const clients = await Promise.all(Array.from({ length: 4 }, () => tcp(tcpPort)))
    const pending = clients.map((c) => c.request(30, '600', 10_000))
    await until(() => new Set(enet.logs.filter((l) => l.msg === 'slow request started').map((l) => l.pid)).size === 2, 10_000, 'a slow request running in each worker')
    const exited = enet.stop()
    const served = await Promise.all(pending)
    expect(new Set(served.map((f) => f.text.split(':')[1])).size).toBe(2)
    expect(await exited).toEqual({ code: 0, signal: null })
    const closedBy = new Set(enet.logs.filter((l) => l.msg === 'closed').map((l) => l.pid))
    expect(closedBy.size).toBe(3)
    expect(enet.stderr()).toBe('')
  })
})

async function waitRows(sock: string, ok: (rows: Row[]) => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let rows: Row[] = []
  while (Date.now() < deadline) {
    rows = await whoRows(sock)
    if (ok(rows)) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`plugin rows never matched: ${JSON.stringify(rows)}`)
}
