// npm run bench:scale — scale figures (issue 12):
//  1. one instance holding N simulated nodes that each beat once a second
//     (10,000 and 50,000), heartbeat store 'memory' vs Redis: CPU of enet (and
//     of redis-server), RSS, and whether every node stayed live;
//  2. TCP echo throughput with 1 vs 2 workers (`enet start --workers N`).
// Everything on 127.0.0.1; every run is bounded in count and time. The load
// generator runs in this process, on the same cores: its CPU is printed too.
//
//   npm run bench:scale                 # ~2 minutes
//   npm run bench:scale -- --quick      # shorter windows (~1 minute)
//   npm run bench:scale -- --nodes 50000
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { adminRequest } from '../core/runtime/admin.ts'
import { tlvBE } from '../core/wire/codec.ts'
import { startEnetChild, type EnetChild } from '../scripts/enet-child.ts'

const PLUGINS = fileURLToPath(new URL('../plugins', import.meta.url))
const { values: flags } = parseArgs({ options: { quick: { type: 'boolean', default: false }, nodes: { type: 'string' } }, strict: true })
/** `--nodes 50000` (or `10000,50000`): the node counts to run; default both. */
const ONLY_NODES = flags.nodes?.split(',').map((x) => {
  const n = Number(x)
  if (!Number.isInteger(n) || n < 1 || n > 60_000) throw new Error(`--nodes: expected node counts from 1 to 60000, got "${flags.nodes}"`)
  return n
})
const WARMUP_S = flags.quick ? 3 : 4
const MEASURE_S = flags.quick ? 5 : 10
const TCP_S = flags.quick ? 4 : 8
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICK
}

/** Datagrams the kernel dropped on the UDP socket bound to `port` (receive buffer full): /proc/net/udp's last column. */
function kernelDrops(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f[1]?.endsWith(`:${hex}`)) return Number(f[f.length - 1])
  }
  return NaN
}

/** The admin socket, asked again if a busy server drops the first try. */
async function status(sock: string): Promise<Record<string, unknown>> {
  for (let i = 0; ; i++) {
    try {
      return await adminRequest(sock, { cmd: 'status' }, 10_000)
    } catch (err) {
      if (i >= 4) throw err
      await sleep(500)
    }
  }
}

const pct = (cpuS: number, wallS: number) => `${Math.round((100 * cpuS) / wallS)} %`
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MiB`
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function project(heartbeat: Record<string, unknown>, extraPlugins: Record<string, string> = {}): { dir: string; config: string } {
  const dir = mkdtempSync(join(tmpdir(), 'enet-bench-scale-'))
  for (const [name, src] of Object.entries(extraPlugins)) {
    mkdirSync(join(dir, 'plugins', name), { recursive: true })
    writeFileSync(join(dir, 'plugins', name, 'index.ts'), src)
  }
  const config = join(dir, 'enet.config.ts')
  writeFileSync(
    config,
    `import { defineConfig } from 'enet'
export default defineConfig({
  log: { level: 'warn', pretty: false },
  // The simulated nodes share one source IP: lift heartbeat's per-IP rate for msgId 10.
  udp: { maxPeers: 1000, rateLimits: { '10': false }, intakePerSec: 1000000 },
  plugins: { dirs: [${JSON.stringify(PLUGINS)}, 'plugins'], watch: false, strict: true, options: { heartbeat: ${JSON.stringify(heartbeat)} } },
})
`,
  )
  return { dir, config }
}

async function freePort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

async function startRedis(): Promise<{ proc: ChildProcess; url: string; stop(): Promise<void> }> {
  const port = await freePort()
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  proc.on('error', (err) => {
    console.error(`bench:scale needs redis-server (Debian package redis-server): ${err.message}`)
    process.exit(1)
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => ((out += s), out.includes('Ready to accept') && resolve()))
    proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)))
  })
  return { proc, url: `redis://127.0.0.1:${port}/0`, stop: () => new Promise((resolve) => (proc.once('exit', () => resolve()), proc.kill('SIGTERM'))) }
}

async function stopChild(c: EnetChild): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => c.child.once('exit', () => resolve()))
  c.child.kill('SIGTERM')
  await exited
}

/** N nodes, each beating once a second, spread evenly over the second from 64 sockets. */
async function beaters(udpPort: number, n: number): Promise<{ stop(): Promise<void>; sent: () => number }> {
  const sockets = await Promise.all(
    Array.from({ length: 64 }, async () => {
      const s = dgram.createSocket('udp4')
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
      return s
    }),
  )
  const beats = Array.from({ length: n }, (_, i) => {
    const body = Buffer.from(`node${i}.bench:7000`)
    const d = Buffer.allocUnsafe(4 + body.length)
    d.writeUInt32BE(10, 0)
    body.copy(d, 4)
    return d
  })
  const TICK_MS = 10
  let next = 0
  let sent = 0
  const t0 = performance.now()
  const timer = setInterval(() => {
    // Catch up to where the clock says we should be: n per second.
    const due = Math.floor(((performance.now() - t0) / 1000) * n)
    for (; sent < due; sent++, next = (next + 1) % n) sockets[next % sockets.length]!.send(beats[next]!, udpPort, '127.0.0.1')
  }, TICK_MS)
  return {
    sent: () => sent,
    async stop() {
      clearInterval(timer)
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))))
    },
  }
}

interface HeartbeatStatus {
  live: number
  expired: number
  refused: number
  store?: Record<string, number | boolean | string>
}

async function registryRun(store: 'memory' | 'redis', n: number): Promise<string> {
  const redis = store === 'redis' ? await startRedis() : null
  const p = project({ ttlMs: 2500, maxNodes: n + 1000, ...(redis && { store: redis.url }) })
  const enet = startEnetChild(p.config, { cwd: p.dir, stderr: 'inherit' })
  enet.child.on('exit', (code, signal) => code !== 0 && console.error(`enet (${store}, ${n} nodes) exited: code ${code}, signal ${signal}`))
  try {
    const ports = await enet.ports
    const gen = await beaters(ports.udp, n)
    await sleep(WARMUP_S * 1000)
    const pid = enet.child.pid!
    const [c0, r0, g0, t0, s0, k0] = [cpuOf(pid), redis ? cpuOf(redis.proc.pid!) : 0, process.cpuUsage(), performance.now(), gen.sent(), kernelDrops(ports.udp)]
    await sleep(MEASURE_S * 1000)
    const wall = (performance.now() - t0) / 1000
    const g = process.cpuUsage(g0)
    const cpu = cpuOf(pid) - c0
    const rcpu = redis ? cpuOf(redis.proc.pid!) - r0 : 0
    const rss = enet.rss()
    const beatsPerSec = Math.round((gen.sent() - s0) / wall)
    const lost = kernelDrops(ports.udp) - k0
    const st = await status(join(p.dir, '.enet', 'admin.sock'))
    const hb = (st.plugins as Record<string, { stats: HeartbeatStatus }>).heartbeat!.stats
    const counters = st.counters as Record<string, number>
    const drops = [`kernel ${Math.round(lost / wall)}/s`, ...Object.entries(counters).filter(([k, v]) => k.startsWith('drop.') && v > 0).map(([k, v]) => `${k} ${v}`)].join(', ')
    await gen.stop()
    return `| ${store} | ${n.toLocaleString('en')} | ${beatsPerSec.toLocaleString('en')} | ${pct(cpu, wall)} | ${redis ? pct(rcpu, wall) : '-'} | ${mib(rss)} | ${hb.live.toLocaleString('en')} | ${hb.expired} | ${pct((g.user + g.system) / 1e6, wall)} | ${drops}${hb.store ? `; store written ${hb.store.written}, dropped ${hb.store.dropped}` : ''} |`
  } finally {
    await stopChild(enet)
    await redis?.stop()
    rmSync(p.dir, { recursive: true, force: true })
  }
}

const ECHO = `import { definePlugin } from 'enet'
export default definePlugin({ name: 'echo', routes: { 1: (req) => { req.reply(1, req.data) } } })
`

/** 64 connections × 16 frames of 64 B in flight, for TCP_S seconds: replies per second. */
async function tcpRun(workers: number): Promise<string> {
  const p = project({}, { echo: ECHO })
  const enet = startEnetChild(p.config, { cwd: p.dir, stderr: 'inherit', args: workers > 1 ? ['--workers', String(workers)] : [] })
  try {
    const ports = await enet.ports
    const st = await status(join(p.dir, '.enet', 'admin.sock'))
    const pids = workers > 1 ? [enet.child.pid!, ...(st.workers as Array<{ pid: number }>).map((w) => w.pid)] : [enet.child.pid!]
    const frame = tlvBE.encode(1, Buffer.alloc(64, 7))
    let replies = 0
    let measuring = false
    let stop = false
    const conns = await Promise.all(
      Array.from({ length: 64 }, () => {
        return new Promise<net.Socket>((resolve) => {
          const s = net.connect(ports.tcp, '127.0.0.1', () => resolve(s))
          s.setNoDelay(true)
          const dec = tlvBE.createDecoder(1 << 16)
          s.on('data', (chunk) => {
            dec.push(chunk)
            let n = 0
            while (dec.next()) n++
            if (measuring) replies += n
            if (!stop) s.write(Buffer.concat(Array.from({ length: n }, () => frame)))
          })
          s.on('error', () => {})
        })
      }),
    )
    for (const s of conns) s.write(Buffer.concat(Array.from({ length: 16 }, () => frame)))
    await sleep(1000)
    measuring = true
    const [c0, g0, t0] = [pids.map(cpuOf), process.cpuUsage(), performance.now()]
    await sleep(TCP_S * 1000)
    measuring = false
    stop = true
    const wall = (performance.now() - t0) / 1000
    const g = process.cpuUsage(g0)
    const cpu = pids.map(cpuOf).reduce((a, c, i) => a + c - c0[i]!, 0)
    for (const s of conns) s.destroy()
    return `| ${workers} | ${Math.round(replies / wall).toLocaleString('en')} | ${pct(cpu, wall)} | ${pct((g.user + g.system) / 1e6, wall)} |`
  } finally {
    await stopChild(enet)
    rmSync(p.dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const t0 = performance.now()
  console.log(`bench:scale on ${process.version}; load average at start ${load()} (1, 5, 15 min)`)
  console.log(`\nNodes beating once a second, one instance (warm-up ${WARMUP_S} s, measured ${MEASURE_S} s):\n`)
  console.log('| store | nodes | beats/s sent | enet CPU | redis CPU | enet RSS | live at end | expired (whole run) | load generator CPU | drops (kernel: receive buffer full) |')
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const n of ONLY_NODES ?? [10_000, 50_000]) for (const store of ['memory', 'redis'] as const) console.log(await registryRun(store, n))
  console.log(`\nTCP echo, 64 connections × 16 in flight × 64 B, ${TCP_S} s (CPU of all enet processes; 100 % = one core):\n`)
  console.log('| workers | replies/s | enet CPU | load generator CPU |')
  console.log('|---|---|---|---|')
  for (const w of [1, 2]) console.log(await tcpRun(w))
  console.log(`\nload average at end ${load()}; ${Math.round((performance.now() - t0) / 1000)} s`)
}

await main()
