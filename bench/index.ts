// npm run bench [-- --quick] [--only tcp64,udp] [--rounds N] [--warmup MS] [--measure MS] [--idle-conns N] [--fake-enet] [--plain-nocork] [--cpu-prof]
// (npm run bench goes through bench/all.ts, which runs this, then bench/reload.ts.)
//
// Compares enet (bench/enet-server.ts: one echo route) with a plain Node
// net/dgram TLV echo server (bench/plain-server.ts) in the same run. Every run
// gets a fresh server child process (started with --expose-gc); one load
// generator child (bench/load.ts, raw sockets, closed loop) drives all runs.
// Runs alternate plain, enet, plain, enet… inside each scenario.
// Figures reported per server are those of its best round: highest msgs/s
// (with that round's latencies); for memory, the lowest bytes per connection.
// Output: a table, the enet/plain ratios, then one JSON line with everything.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { existsSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import os from 'node:os'
import type { IdleOpenResult, LoadCommand, LoadMessage, MemSample, ProbeResult, RunResult, ServerMessage, ServerReady } from './common.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RUNNER = fileURLToPath(new URL('../bin/run.mjs', import.meta.url))
const BENCH = (f: string) => fileURLToPath(new URL(`./${f}`, import.meta.url))
type Impl = 'plain' | 'enet'
const IMPLS: Impl[] = ['plain', 'enet']

// ---- options -------------------------------------------------------------------

interface Options {
  quick: boolean
  only: string[] | null
  rounds: number
  warmupMs: number
  measureMs: number
  idleConns: number
  fakeEnet: boolean
  plainCork: boolean
  /** A folder for the enet server children's V8 CPU profiles (--cpu-prof), or null. */
  cpuProfDir: string | null
}

function usage(msg?: string): never {
  if (msg) console.error(`bench: ${msg}`)
  console.error(
    'usage: npm run bench -- [--quick] [--only tcp64,tcp4k,udp64,idle] [--rounds N] [--warmup MS] [--measure MS] [--idle-conns N] [--fake-enet] [--plain-nocork] [--cpu-prof]\n' +
      '  --fake-enet (or BENCH_FAKE_ENET=1) runs the plain server in the enet slot, to test the harness.\n' +
      '  The plain TCP server corks each read\'s replies into one writev, as enet does (a fair baseline);\n' +
      '  --plain-nocork (or BENCH_PLAIN_CORK=0) makes it write each reply on its own, as a naive server would.\n' +
      '  --cpu-prof starts each enet server child with node --cpu-prof; the profiles go to a temporary folder printed at the end.',
  )
  process.exit(2)
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: null, rounds: 2, warmupMs: 1000, measureMs: 4000, idleConns: 10_000, fakeEnet: process.env.BENCH_FAKE_ENET === '1', plainCork: process.env.BENCH_PLAIN_CORK !== '0', cpuProfDir: null }
  const explicit = new Set<string>()
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v)
    if (v === undefined || !Number.isInteger(n) || n < min) usage(`${name} expects an integer >= ${min}, got ${v ?? 'nothing'}`)
    explicit.add(name)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
    const val = () => inline ?? argv[++i]
    switch (flag) {
      case '--quick':
        o.quick = true
        break
      case '--only':
        o.only = (val() ?? '').split(',').map((s) => s.trim()).filter(Boolean)
        if (!o.only.length) usage('--only expects a comma-separated list')
        break
      case '--rounds':
        o.rounds = num('--rounds', val(), 1)
        break
      case '--warmup':
        o.warmupMs = num('--warmup', val(), 0)
        break
      case '--measure':
        o.measureMs = num('--measure', val(), 100)
        break
      case '--idle-conns':
        o.idleConns = num('--idle-conns', val(), 1)
        break
      case '--fake-enet':
        o.fakeEnet = true
        break
      case '--plain-nocork':
        o.plainCork = false
        break
      case '--cpu-prof':
        o.cpuProfDir ??= mkdtempSync(join(os.tmpdir(), 'enet-bench-prof-'))
        break
      case '-h':
      case '--help':
        usage()
      default:
        usage(`unknown argument ${a}`)
    }
  }
  if (o.quick) {
    if (!explicit.has('--warmup')) o.warmupMs = 300
    if (!explicit.has('--measure')) o.measureMs = 1000
    if (!explicit.has('--idle-conns')) o.idleConns = 2000
  }
  // Children inherit the environment: the plain server reads this switch.
  process.env.BENCH_PLAIN_CORK = o.plainCork ? '1' : '0'
  return o
}

// ---- scenarios -------------------------------------------------------------------

type Scenario =
  | { id: string; kind: 'tcp'; label: string; conns: number; inflight: number; size: number }
  | { id: string; kind: 'udp'; label: string; sockets: number; inflight: number; size: number }
  | { id: string; kind: 'idle'; label: string }

const SCENARIOS: Scenario[] = [
  { id: 'tcp64', kind: 'tcp', label: 'TCP 64 conns x 16 in flight x 64 B', conns: 64, inflight: 16, size: 64 },
  { id: 'tcp4k', kind: 'tcp', label: 'TCP 64 conns x 16 in flight x 4 KiB', conns: 64, inflight: 16, size: 4096 },
  { id: 'udp64', kind: 'udp', label: 'UDP 16 sockets x 8 in flight x 64 B', sockets: 16, inflight: 8, size: 64 },
  { id: 'idle', kind: 'idle', label: 'idle TCP conns (bytes/conn)' },
]

function selectScenarios(only: string[] | null): Scenario[] {
  if (!only) return SCENARIOS
  const alias: Record<string, string> = { mem: 'idle', memory: 'idle' }
  const picked = new Set<Scenario>()
  for (const raw of only) {
    const t = alias[raw] ?? raw
    const hits = SCENARIOS.filter((s) => s.id === t || s.id.startsWith(t))
    if (!hits.length) usage(`--only: unknown scenario "${raw}" (known: ${SCENARIOS.map((s) => s.id).join(', ')}; prefixes like "tcp" work)`)
    for (const h of hits) picked.add(h)
  }
  return SCENARIOS.filter((s) => picked.has(s))
}

// ---- child processes ---------------------------------------------------------------

const children = new Set<ChildProcess>()

function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL')
      } catch {
        /* already gone */
      }
    }
  }
  children.clear()
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, stopping children`)
    killAll()
    process.exit(130)
  })
}

let nofileRaise: number | null = null

class Child {
  readonly proc: ChildProcess
  readonly tail: string[] = []
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null
  private listeners = new Set<(m: unknown) => void>()

  constructor(
    readonly name: string,
    file: string,
    gc: boolean,
    nodeFlags: string[] = [],
  ) {
    const nodeArgs = [...(gc ? ['--expose-gc'] : []), ...nodeFlags, RUNNER, file]
    const stdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc']
    this.proc =
      nofileRaise !== null
        ? spawn('/bin/sh', ['-c', `ulimit -n ${nofileRaise} && exec "$0" "$@"`, process.execPath, ...nodeArgs], { cwd: ROOT, stdio })
        : spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio })
    children.add(this.proc)
    const keep = (buf: Buffer) => {
      for (const line of buf.toString('utf8').split('\n')) {
        if (!line.trim()) continue
        this.tail.push(line)
        if (this.tail.length > 40) this.tail.shift()
      }
    }
    this.proc.stdout!.on('data', keep)
    this.proc.stderr!.on('data', keep)
    this.proc.on('message', (m) => {
      for (const l of this.listeners) l(m)
    })
    this.proc.on('error', (e) => this.tail.push(`spawn error: ${e.message}`))
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        children.delete(this.proc)
        resolve({ code, signal })
      })
    })
  }

  get alive(): boolean {
    return this.exitInfo === null
  }

  describeExit(): string {
    if (!this.exitInfo) return 'still running'
    return this.exitInfo.signal ? `killed by ${this.exitInfo.signal}` : `exited with code ${this.exitInfo.code}`
  }

  send(msg: unknown): void {
    if (this.proc.connected) this.proc.send(msg as object)
  }

  /** Wait for the first message matching `pick` (which may throw to fail), failing on timeout or exit. */
  waitFor<T>(pick: (m: unknown) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false
      const finish = (fn: () => void) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.listeners.delete(onMsg)
        fn()
      }
      const onMsg = (m: unknown) => {
        let v: T | undefined
        try {
          v = pick(m)
        } catch (e) {
          finish(() => reject(e))
          return
        }
        if (v !== undefined) finish(() => resolve(v))
      }
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.name}: no answer to ${what} within ${timeoutMs} ms`))), timeoutMs)
      this.listeners.add(onMsg)
      void this.exited.then(() => finish(() => reject(new Error(`${this.name} ${this.describeExit()} while waiting for ${what}`))))
    })
  }

  async stop(graceful: unknown, ms = 4000): Promise<void> {
    if (!this.alive) return
    if (graceful !== undefined) this.send(graceful)
    else if (this.proc.connected) this.proc.disconnect()
    const t = setTimeout(() => this.proc.kill('SIGKILL'), ms)
    await this.exited
    clearTimeout(t)
  }
}

class ServerChild extends Child {
  private memId = 0
  ready!: ServerReady
  static async start(impl: Impl, fakeEnet: boolean, cpuProfDir: string | null = null): Promise<ServerChild> {
    const file = impl === 'enet' && !fakeEnet ? 'enet-server.ts' : 'plain-server.ts'
    // The profile is written when the child exits normally (the 'stop' command).
    const flags = impl === 'enet' && cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []
    const c = new ServerChild(`${impl} server`, BENCH(file), true, flags)
    try {
      c.ready = await c.waitFor<ServerReady>(
        (m) => {
          const msg = m as ServerMessage
          if (msg.type === 'ready') return msg
          if (msg.type === 'error') throw new Error(`${impl} server failed to start:\n${msg.message}`)
          return undefined
        },
        30_000,
        'startup',
      )
    } catch (e) {
      await c.stop(undefined, 500)
      const tail = c.tail.length ? `\n  child output:\n    ${c.tail.join('\n    ')}` : ''
      throw new Error(`${(e as Error).message}${tail}`)
    }
    return c
  }
  mem(): Promise<MemSample> {
    const id = ++this.memId
    this.send({ type: 'mem', id })
    return this.waitFor(
      (m) => {
        const msg = m as ServerMessage
        return msg.type === 'mem' && msg.id === id ? msg.mem : undefined
      },
      15_000,
      'a memory sample',
    )
  }
}

class LoadChild extends Child {
  private nextId = 0
  static async start(): Promise<LoadChild> {
    const c = new LoadChild('load generator', BENCH('load.ts'), false)
    await c.waitFor((m) => ((m as LoadMessage).type === 'ready' ? true : undefined), 30_000, 'startup')
    return c
  }
  request<T>(cmd: LoadCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never, timeoutMs: number): Promise<T> {
    const id = ++this.nextId
    this.send({ ...cmd, id })
    return this.waitFor(
      (m) => {
        const msg = m as LoadMessage
        if (msg.type !== 'result' || msg.id !== id) return undefined
        if (!msg.ok) throw new Error(`load generator: ${msg.error}`)
        return msg.value as T
      },
      timeoutMs,
      `${cmd.type}`,
    )
  }
}

// ---- running ----------------------------------------------------------------------

interface IdleFigures {
  requested: number
  opened: number
  openMs: number
  heapPerConn: number
  rssPerConn: number
  externalPerConn: number
  before: MemSample
  after: MemSample
}

interface RunRecord {
  scenario: string
  impl: Impl
  round: number
  ok: boolean
  error?: string
  probe?: ProbeResult
  run?: RunResult
  idle?: IdleFigures
  serverAfter?: string
}

let load: LoadChild | null = null
const notes: string[] = []

async function ensureLoad(): Promise<LoadChild> {
  if (load?.alive) return load
  if (load) notes.push(`the load generator died (${load.describeExit()}) and was restarted; its last output: ${load.tail.slice(-5).join(' | ')}`)
  load = await LoadChild.start()
  return load
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

async function runOne(sc: Scenario, impl: Impl, round: number, o: Options): Promise<RunRecord> {
  const rec: RunRecord = { scenario: sc.id, impl, round, ok: false }
  let server: ServerChild | null = null
  try {
    const lg = await ensureLoad()
    server = await ServerChild.start(impl, o.fakeEnet, o.cpuProfDir)
    rec.probe = await lg.request<ProbeResult>({ type: 'probe', tcpPort: server.ready.tcp.port, udpPort: server.ready.udp.port }, 15_000)
    const runTimeout = o.warmupMs + o.measureMs + 30_000
    const maxMsgs = 50_000_000
    if (sc.kind === 'tcp') {
      rec.run = await lg.request<RunResult>(
        { type: 'tcp', port: server.ready.tcp.port, conns: sc.conns, inflight: sc.inflight, size: sc.size, warmupMs: o.warmupMs, measureMs: o.measureMs, maxMsgs },
        runTimeout,
      )
    } else if (sc.kind === 'udp') {
      rec.run = await lg.request<RunResult>(
        {
          type: 'udp',
          port: server.ready.udp.port,
          sockets: sc.sockets,
          inflight: sc.inflight,
          size: sc.size,
          warmupMs: o.warmupMs,
          measureMs: o.measureMs,
          maxMsgs,
          lossTimeoutMs: 500,
        },
        runTimeout,
      )
    } else {
      const port = server.ready.tcp.port
      const openTimeout = 60_000
      // Warm the accept/connection code paths so one-time costs (JIT code,
      // lazily built structures) are not charged to the measured connections.
      const warm = Math.min(200, o.idleConns)
      await lg.request<IdleOpenResult>({ type: 'idle-open', port, count: warm, concurrency: 64, timeoutMs: openTimeout }, openTimeout + 10_000)
      await lg.request({ type: 'idle-close' }, 15_000)
      await sleep(300)
      const before = await server.mem()
      const opened = await lg.request<IdleOpenResult>(
        { type: 'idle-open', port, count: o.idleConns, concurrency: 200, timeoutMs: openTimeout },
        openTimeout + 10_000,
      )
      await sleep(300)
      const after = await server.mem()
      await lg.request({ type: 'idle-close' }, 15_000)
      const n = opened.opened
      if (opened.failed) notes.push(`${impl} idle round ${round}: ${opened.failed} connections failed: ${opened.errors.slice(0, 3).join('; ')}`)
      if (n < o.idleConns) notes.push(`${impl} idle round ${round}: opened ${n} of ${o.idleConns} connections; figures are per opened connection`)
      if (after.conns < n) notes.push(`${impl} idle round ${round}: the server counted ${after.conns} live connections, the load generator held ${n}`)
      rec.idle = {
        requested: o.idleConns,
        opened: n,
        openMs: opened.ms,
        heapPerConn: n ? (after.heapUsed - before.heapUsed) / n : NaN,
        rssPerConn: n ? (after.rss - before.rss) / n : NaN,
        externalPerConn: n ? (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / n : NaN,
        before,
        after,
      }
      if (!before.gc) notes.push(`${impl} server ran without global.gc: memory figures are not after a full GC`)
    }
    rec.ok = true
  } catch (e) {
    rec.error = (e as Error).message
  } finally {
    if (server) {
      if (!server.alive) {
        rec.ok = false
        rec.serverAfter = `${server.describeExit()} during the run; last output:\n    ${server.tail.join('\n    ') || '(none)'}`
      }
      await server.stop({ type: 'stop' })
      if (server.exitInfo && server.exitInfo.code !== 0 && !rec.serverAfter) {
        const why = server.exitInfo.code === 3 ? ' (close() had not resolved after 3 s)' : server.exitInfo.code === 4 ? ' (close() rejected)' : ''
        notes.push(`${impl} server (${sc.id} round ${round}) did not stop cleanly: ${server.describeExit()}${why}${server.tail.length ? `; output: ${server.tail.slice(-5).join(' | ')}` : ''}`)
      }
    }
  }
  if (rec.probe && !rec.probe.ok) notes.push(`${impl} (${sc.id} round ${round}) failed the echo probe: ${rec.probe.problems.join('; ')}`)
  const r = rec.run
  if (r) {
    const odd: string[] = []
    if (r.bad) odd.push(`${r.bad} bad replies`)
    if (r.unanswered) odd.push(`${r.unanswered} requests unanswered at the end`)
    if (r.lost) odd.push(`${r.lost} datagrams lost (no reply in 500 ms)`)
    if (r.late) odd.push(`${r.late} late replies`)
    if (r.closed) odd.push(`${r.closed} connections closed by the server`)
    if (r.errors.length) odd.push(`errors: ${r.errors.slice(0, 3).join('; ')}`)
    if (odd.length) notes.push(`${impl} ${sc.id} round ${round}: ${odd.join(', ')}`)
  }
  return rec
}

// ---- reporting -----------------------------------------------------------------------

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-')
const fmtRatio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-')
const pad = (s: string, n: number) => s.padEnd(n)
const lpad = (s: string, n: number) => s.padStart(n)

interface Best {
  msgsPerSec?: number
  p50Us?: number
  p99Us?: number
  heapPerConn?: number
  rssPerConn?: number
  externalPerConn?: number
  opened?: number
  round?: number
}

function best(recs: RunRecord[], kind: Scenario['kind']): Best | null {
  const ok = recs.filter((r) => r.ok && (kind === 'idle' ? r.idle : r.run))
  if (!ok.length) return null
  if (kind === 'idle') {
    const b = ok.reduce((a, r) => (r.idle!.heapPerConn < a.idle!.heapPerConn ? r : a))
    const rss = Math.min(...ok.map((r) => r.idle!.rssPerConn))
    return { heapPerConn: b.idle!.heapPerConn, rssPerConn: rss, externalPerConn: b.idle!.externalPerConn, opened: b.idle!.opened, round: b.round }
  }
  const b = ok.reduce((a, r) => (r.run!.msgsPerSec > a.run!.msgsPerSec ? r : a))
  return { msgsPerSec: b.run!.msgsPerSec, p50Us: b.run!.p50Us, p99Us: b.run!.p99Us, round: b.round }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2))
  const scenarios = selectScenarios(o.only)
  const started = Date.now()

  if (!o.fakeEnet && !existsSync(BENCH('../core/index.ts'))) {
    console.error('bench: core/index.ts does not exist yet; run with --fake-enet (or BENCH_FAKE_ENET=1) to test the harness with plain in both slots')
    return 1
  }

  // File descriptors: the load process holds one per idle connection, the server one more.
  if (scenarios.some((s) => s.kind === 'idle')) {
    const [soft, hard] = execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((s) => (s.trim() === 'unlimited' ? Infinity : Number(s)))
    const need = o.idleConns + 1024
    if (soft! < need) {
      if (hard! >= need) {
        nofileRaise = need
        notes.push(`ulimit -n was ${soft}; children run with ulimit -n ${need} (hard limit ${hard})`)
      } else {
        const n = Math.max(100, Math.floor(hard! - 1024))
        nofileRaise = Number.isFinite(hard!) ? hard! : null
        notes.push(`ulimit -n hard limit is ${hard}: idle connections lowered from ${o.idleConns} to ${n}`)
        o.idleConns = n
      }
    }
  }

  const pickText = 'best round per server (highest msgs/s, with that round\'s p50/p99; memory: lowest bytes/conn)'
  console.log(
    `enet bench: node ${process.version}, ${os.cpus().length} CPUs, ${o.rounds} round(s) per server alternating plain/enet, ` +
      `warmup ${o.warmupMs} ms + measure ${o.measureMs} ms per run, idle ${o.idleConns.toLocaleString('en-US')} conns${o.quick ? ' (--quick)' : ''}`,
  )
  console.log(
    o.plainCork
      ? 'plain TCP server: corks the replies of one read into one writev, as enet does (--plain-nocork for one write per reply)'
      : 'plain TCP server: one socket.write per reply frame, no cork (--plain-nocork); enet corks the replies of one read',
  )
  if (o.fakeEnet) console.log('*** --fake-enet: the "enet" column is the PLAIN server (harness test), not enet ***')

  const records: RunRecord[] = []
  for (const sc of scenarios) {
    for (let round = 1; round <= o.rounds; round++) {
      for (const impl of IMPLS) {
        const rec = await runOne(sc, impl, round, o)
        records.push(rec)
        const r = rec.run
        const line = rec.ok
          ? r
            ? `${fmtInt(r.msgsPerSec)} msgs/s, p50 ${fmtInt(r.p50Us)} µs, p99 ${fmtInt(r.p99Us)} µs`
            : `heap ${fmtInt(rec.idle!.heapPerConn)} B/conn, rss ${fmtInt(rec.idle!.rssPerConn)} B/conn (${rec.idle!.opened} conns opened in ${rec.idle!.openMs} ms)`
          : `FAILED: ${[rec.error, rec.serverAfter && `server ${rec.serverAfter}`].filter(Boolean).join('\n  ')}`
        console.log(`  [${sc.id} round ${round}] ${pad(impl, 5)} ${line}`)
      }
    }
  }

  // Table
  console.log(`\nResults: ${pickText}`)
  const head = `${pad('scenario', 44)}${pad('server', 7)}${lpad('msgs/s', 11)}${lpad('p50 µs', 9)}${lpad('p99 µs', 9)}   all rounds (msgs/s)`
  console.log(head)
  console.log('-'.repeat(head.length + 6))
  const json: Record<string, unknown> = {}
  const ratios: string[] = []
  for (const sc of scenarios) {
    const per: Record<string, unknown> = {}
    const b: Partial<Record<Impl, Best | null>> = {}
    for (const impl of IMPLS) {
      const recs = records.filter((r) => r.scenario === sc.id && r.impl === impl)
      const bb = best(recs, sc.kind)
      b[impl] = bb
      const title = impl === 'plain' ? `${sc.id.padEnd(6)} ${sc.kind === 'idle' ? `${o.idleConns.toLocaleString('en-US')} ${sc.label}` : sc.label}` : ''
      if (sc.kind === 'idle') {
        const rounds = recs.map((r) => (r.idle ? `heap ${fmtInt(r.idle.heapPerConn)} / rss ${fmtInt(r.idle.rssPerConn)}` : 'failed'))
        console.log(
          `${pad(title, 44)}${pad(impl, 7)}${bb ? `heap ${fmtInt(bb.heapPerConn!)} B/conn, rss ${fmtInt(bb.rssPerConn!)} B/conn` : 'FAILED'}   [${rounds.join('; ')}]`,
        )
        per[impl] = bb
          ? {
              heapBytesPerConn: Math.round(bb.heapPerConn!),
              rssBytesPerConn: Math.round(bb.rssPerConn!),
              externalBytesPerConn: Math.round(bb.externalPerConn!),
              conns: bb.opened,
              rounds: recs.map((r) => (r.idle ? { heapBytesPerConn: Math.round(r.idle.heapPerConn), rssBytesPerConn: Math.round(r.idle.rssPerConn), conns: r.idle.opened } : { error: r.error ?? r.serverAfter ?? 'failed' })),
            }
          : { error: recs.map((r) => r.error ?? r.serverAfter).filter(Boolean).join('; ') || 'failed' }
      } else {
        const rounds = recs.map((r) => (r.run && r.ok ? fmtInt(r.run.msgsPerSec) : 'failed'))
        console.log(
          `${pad(title, 44)}${pad(impl, 7)}${lpad(bb ? fmtInt(bb.msgsPerSec!) : 'FAILED', 11)}${lpad(bb ? fmtInt(bb.p50Us!) : '-', 9)}${lpad(bb ? fmtInt(bb.p99Us!) : '-', 9)}   ${rounds.join(', ')}`,
        )
        per[impl] = bb
          ? {
              msgsPerSec: Math.round(bb.msgsPerSec!),
              p50Us: Math.round(bb.p50Us!),
              p99Us: Math.round(bb.p99Us!),
              rounds: recs.map((r) =>
                r.run && r.ok
                  ? { msgsPerSec: Math.round(r.run.msgsPerSec), p50Us: Math.round(r.run.p50Us), p99Us: Math.round(r.run.p99Us), maxUs: Math.round(r.run.maxUs), msgs: r.run.msgs, lost: r.run.lost, unanswered: r.run.unanswered, bad: r.run.bad }
                  : { error: r.error ?? r.serverAfter ?? 'failed' },
              ),
            }
          : { error: recs.map((r) => r.error ?? r.serverAfter).filter(Boolean).join('; ') || 'failed' }
      }
    }
    const p = b.plain
    const e = b.enet
    if (p && e) {
      if (sc.kind === 'idle') {
        const r = { heapPerConn: e.heapPerConn! / p.heapPerConn!, rssPerConn: e.rssPerConn! / p.rssPerConn! }
        per.ratio = { heapPerConn: +r.heapPerConn.toFixed(3), rssPerConn: +r.rssPerConn.toFixed(3) }
        ratios.push(`  ${pad(sc.id, 7)} heap/conn ${fmtRatio(r.heapPerConn)}   rss/conn ${fmtRatio(r.rssPerConn)}   (enet heap ${fmtInt(e.heapPerConn!)} vs plain ${fmtInt(p.heapPerConn!)} B/conn)`)
      } else {
        const r = { msgsPerSec: e.msgsPerSec! / p.msgsPerSec!, p50: e.p50Us! / p.p50Us!, p99: e.p99Us! / p.p99Us! }
        per.ratio = { msgsPerSec: +r.msgsPerSec.toFixed(3), p50: +r.p50.toFixed(3), p99: +r.p99.toFixed(3) }
        ratios.push(`  ${pad(sc.id, 7)} msgs/s ${fmtRatio(r.msgsPerSec)}   p50 ${fmtRatio(r.p50)}   p99 ${fmtRatio(r.p99)}`)
      }
    } else {
      ratios.push(`  ${pad(sc.id, 7)} no ratio: ${!p ? 'plain' : 'enet'} failed`)
    }
    json[sc.id] = per
  }
  console.log('\nenet/plain ratios (msgs/s above 1 = enet faster; latency and memory above 1 = enet costs more):')
  for (const l of ratios) console.log(l)

  const failed = records.filter((r) => !r.ok)
  for (const f of failed) notes.push(`${f.impl} ${f.scenario} round ${f.round} failed: ${[f.error, f.serverAfter && `server ${f.serverAfter}`].filter(Boolean).join(' — ')}`)
  if (o.cpuProfDir) notes.push(`enet server CPU profiles (--cpu-prof, one per enet run; open in Chrome DevTools): ${o.cpuProfDir}`)
  if (notes.length) {
    console.log('\nNotes:')
    for (const n of notes) console.log(`  - ${n}`)
  }
  const seconds = (Date.now() - started) / 1000
  console.log(`\nTotal ${seconds.toFixed(1)} s.`)
  console.log(
    JSON.stringify({
      bench: 'enet-vs-plain',
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      fakeEnet: o.fakeEnet,
      plainCork: o.plainCork,
      quick: o.quick,
      rounds: o.rounds,
      pick: 'best',
      warmupMs: o.warmupMs,
      measureMs: o.measureMs,
      idleConns: o.idleConns,
      scenarios: json,
      notes,
      seconds: +seconds.toFixed(1),
    }),
  )
  return failed.length ? 1 : 0
}

let code = 1
try {
  code = await main()
} catch (e) {
  console.error(`bench: ${(e as Error).stack ?? e}`)
  code = 1
} finally {
  const lg = load as LoadChild | null
  if (lg) await lg.stop(undefined, 2000).catch(() => {})
  killAll()
}
process.exit(code)
