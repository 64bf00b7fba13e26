// npm run bench [-- --quick] [--only tcp64,udp] [--rounds N] [--warmup MS] [--measure MS] [--settle MS] [--accepts N] [--no-pin] [--fake-enet] [--cpu-prof]
// (npm run bench goes through bench/all.ts, which runs this, then bench/reload.ts.)
//
// enet (bench/enet-server.ts: one echo route) against a plain Node net/dgram
// TLV echo (bench/plain-server.ts) in the same run, driven by a compiled load
// generator (bench/loadgen.c) so that the server, not the load, is the limit:
// - the server runs on CPU 0 and the load on the other CPUs (taskset);
// - each run reports the server's CPU use over the measurement window (from
//   /proc/PID/stat) and its CPU time per message; a throughput run whose
//   server used less than --min-cpu (90 %) of one core is marked invalid:
//   something else (the load, another process) was the limit;
// - rounds are paired and alternate (plain, enet, then enet, plain, ...); each
//   ratio is enet/plain within one pair, and the report gives the min,
//   median and max of the valid pairs.
// Every run gets a fresh server child. Output: per-run lines, a table, the
// ratios, then one JSON line with everything.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { killAll, ServerChild } from './children.ts'
import type { MemSample } from './common.ts'
import { acceptRun, buildLoadgen, buildServers, loadRun, pinning, probe, scrapeRun, type LoadRun, type Pinning, type ScrapeRun } from './loadgen.ts'

const BENCH = (f: string) => fileURLToPath(new URL(`./${f}`, import.meta.url))
type Impl = 'plain' | 'enet'

interface Options {
  quick: boolean
  only: string[] | null
  rounds: number
  warmupMs: number
  measureMs: number
  accepts: number
  minCpu: number
  pin: boolean
  fakeEnet: boolean
  /** --metrics: the cost of metrics: enet without them in the "plain" slot, with them (HTTP listener, scraped every second) in the "enet" slot. */
  metrics: boolean
  /** --scrape-ms: how often --metrics' scraper GETs /metrics (default 1000; 0: never, the listener only). */
  scrapeMs: number
  cpuProfDir: string | null
  /** --settle: how long each server idles after it listens, before its load. */
  settleMs: number
}

const USAGE =
  'usage: npm run bench -- [--quick] [--only tcp64,tcp4k,udp64,tcp1,accept] [--rounds N] [--warmup MS] [--measure MS] [--settle MS] [--accepts N] [--min-cpu PCT] [--no-pin] [--fake-enet] [--metrics [--scrape-ms MS]] [--cpu-prof]\n' +
  '  --quick: 2 rounds of 300 + 1000 ms (default 3 rounds of 1000 ms warm-up + 3000 ms measured).\n' +
  '  --min-cpu: a throughput run whose server used less than this % of one core is invalid (default 90).\n' +
  '  --settle: each server idles this long after it listens, before the load (default 0); 12000 lets V8\'s memory reducer\n' +
  '    shrink the young generation that loading grew, as in a server that has sat idle once.\n' +
  '  --no-pin: do not pin server and load to CPUs with taskset.\n' +
  '  --fake-enet (or BENCH_FAKE_ENET=1) runs the plain server in the enet slot, to test the harness.\n' +
  '  --metrics runs enet without metrics in the plain slot and with them (HTTP listener, /metrics scraped every second) in the enet slot;\n' +
  '    --scrape-ms sets how often it is scraped (0: never, the listener only).\n' +
  '  --cpu-prof starts each server child with node --cpu-prof; the profiles go to a temporary folder (plain/, enet/) printed at the end.'

function usage(msg?: string): never {
  if (msg) console.error(`bench: ${msg}`)
  console.error(USAGE)
  process.exit(2)
}

function parseArgs(argv: string[]): Options {
  const o: Options = { quick: false, only: null, rounds: 3, warmupMs: 1000, measureMs: 3000, accepts: 10_000, minCpu: 90, pin: true, fakeEnet: process.env.BENCH_FAKE_ENET === '1', metrics: false, scrapeMs: 1000, cpuProfDir: null, settleMs: 0 }
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
      case '--settle':
        o.settleMs = num('--settle', val(), 0)
        break
      case '--accepts':
        o.accepts = num('--accepts', val(), 1)
        break
      case '--min-cpu':
        o.minCpu = num('--min-cpu', val(), 0)
        break
      case '--no-pin':
        o.pin = false
        break
      case '--fake-enet':
        o.fakeEnet = true
        break
      case '--metrics':
        o.metrics = true
        break
      case '--scrape-ms':
        o.scrapeMs = num('--scrape-ms', val(), 0)
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
    if (!explicit.has('--rounds')) o.rounds = 2
    if (!explicit.has('--warmup')) o.warmupMs = 300
    if (!explicit.has('--measure')) o.measureMs = 1000
  }
  return o
}

// ---- scenarios -------------------------------------------------------------------

type Scenario =
  | { id: string; kind: 'tcp' | 'udp'; label: string; conns: number; inflight: number; size: number; cpuBound: boolean }
  | { id: string; kind: 'accept'; label: string }

const SCENARIOS: Scenario[] = [
  { id: 'tcp64', kind: 'tcp', label: 'TCP 64 conns x 16 in flight x 64 B', conns: 64, inflight: 16, size: 64, cpuBound: true },
  { id: 'tcp4k', kind: 'tcp', label: 'TCP 64 conns x 16 in flight x 4 KiB', conns: 64, inflight: 16, size: 4096, cpuBound: true },
  { id: 'udp64', kind: 'udp', label: 'UDP 16 sockets x 8 in flight x 64 B', conns: 16, inflight: 8, size: 64, cpuBound: true },
  // One request at a time is bound by round-trip latency, not by the server's CPU.
  { id: 'tcp1', kind: 'tcp', label: 'TCP 1 conn x 1 in flight x 64 B (latency)', conns: 1, inflight: 1, size: 64, cpuBound: false },
  { id: 'accept', kind: 'accept', label: 'accept N connections (one echo each), then idle' },
]

function selectScenarios(only: string[] | null): Scenario[] {
  if (!only) return SCENARIOS
  const alias: Record<string, string> = { idle: 'accept', mem: 'accept', memory: 'accept' }
  const picked = new Set<Scenario>()
  for (const raw of only) {
    const t = alias[raw] ?? raw
    const hits = SCENARIOS.filter((s) => s.id === t || s.id.startsWith(t))
    if (!hits.length) usage(`--only: unknown scenario "${raw}" (known: ${SCENARIOS.map((s) => s.id).join(', ')}; prefixes like "tcp" work)`)
    for (const h of hits) picked.add(h)
  }
  return SCENARIOS.filter((s) => picked.has(s))
}

// ---- running ----------------------------------------------------------------------

interface AcceptFigures {
  count: number
  opened: number
  ms: number
  serverCpuUsPerAccept: number
  /** RSS of the fresh server before any connection, after a full GC. */
  startRss: number
  rssPerConn: number
  heapPerConn: number
}

interface RunRecord {
  scenario: string
  impl: Impl
  round: number
  ok: boolean
  /** ok, and for a CPU-bound scenario the server was at >= minCpu of one core. */
  valid: boolean
  why?: string
  run?: LoadRun & { serverCpuPct: number; loadCpuPct: number; cpuUsPerMsg: number }
  accept?: AcceptFigures
  /** --metrics, the enet slot: what the scraper saw. */
  scrape?: ScrapeRun
}

interface Env {
  o: Options
  /** The folder of the compiled bench servers. */
  js: string
  bin: string
  pin: Pinning
  nofile: number | null
  notes: string[]
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

function serverFile(impl: Impl, env: Env): string {
  if (env.o.metrics) return join(env.js, impl === 'enet' ? 'enet-metrics-server.js' : 'enet-server.js')
  return join(env.js, impl === 'enet' && !env.o.fakeEnet ? 'enet-server.js' : 'plain-server.js')
}

async function runOne(sc: Scenario, impl: Impl, round: number, env: Env): Promise<RunRecord> {
  const { o, bin, pin } = env
  const rec: RunRecord = { scenario: sc.id, impl, round, ok: false, valid: false }
  let server: ServerChild | null = null
  try {
    const prof = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, impl)}`] : []
    server = await ServerChild.start(`${impl} server`, serverFile(impl, env), { prefix: pin.server, nodeFlags: prof, nofile: env.nofile })
    const { tcp, udp } = server.ready
    const p = await probe(bin, pin, tcp.port, udp.port)
    if (!p.ok) throw new Error(`echo probe failed: ${p.errors.join('; ')}`)
    if (o.settleMs > 0) await sleep(o.settleMs)
    if (sc.kind === 'accept') {
      const startMem = await server.mem()
      // Warm the accept path so one-time costs (JIT, lazily built structures) are not charged to the measured ones.
      const warm = await acceptRun(bin, pin, { port: tcp.port, count: Math.min(500, o.accepts), concurrency: 64, timeoutMs: 30_000, pid: server.pid })
      await warm.release()
      await sleep(200)
      const before = await server.mem()
      const held = await acceptRun(bin, pin, { port: tcp.port, count: o.accepts, concurrency: 256, timeoutMs: 60_000, pid: server.pid })
      await sleep(200)
      const after: MemSample = await server.mem()
      await held.release()
      const r = held.result
      if (r.failed) env.notes.push(`${impl} accept round ${round}: ${r.failed} connections failed: ${r.errors.slice(0, 3).join('; ')}`)
      const n = r.opened
      rec.accept = {
        count: o.accepts,
        opened: n,
        ms: r.ms,
        serverCpuUsPerAccept: (r.serverCpuSeconds * 1e6) / Math.max(1, n),
        startRss: startMem.rss,
        rssPerConn: n ? (after.rss - before.rss) / n : NaN,
        heapPerConn: n ? (after.heapUsed - before.heapUsed) / n : NaN,
      }
      rec.ok = n === o.accepts
      rec.valid = rec.ok
      if (!rec.ok) rec.why = `opened ${n} of ${o.accepts}`
    } else {
      // --metrics: what Prometheus does, once a second, from the load's CPUs (not the server's).
      const http = server.ready.http
      const scraper = http && o.scrapeMs > 0 ? scrapeRun(bin, pin, { port: http.port, intervalMs: o.scrapeMs, maxMs: o.warmupMs + o.measureMs + 30_000 }) : null
      const r = await loadRun(bin, pin, sc.kind, { port: sc.kind === 'tcp' ? tcp.port : udp.port, conns: sc.conns, inflight: sc.inflight, size: sc.size, warmupMs: o.warmupMs, measureMs: o.measureMs, pid: server.pid })
      if (scraper) rec.scrape = await scraper.stop()
      const serverCpuPct = (r.serverCpuSeconds / r.seconds) * 100
      rec.run = { ...r, serverCpuPct, loadCpuPct: (r.loadCpuSeconds / r.seconds) * 100, cpuUsPerMsg: (r.serverCpuSeconds * 1e6) / Math.max(1, r.msgs) }
      const odd = [r.bad && `${r.bad} bad replies`, r.closed && `${r.closed} connections closed`, r.lost && `${r.lost} datagrams lost`, r.errors.length && r.errors.slice(0, 3).join('; ')].filter(Boolean)
      const s = rec.scrape
      if (s && (s.failed || s.scrapes < 1)) odd.push(`${s.scrapes} scrapes, ${s.failed} failed${s.errors.length ? `: ${s.errors.slice(0, 2).join('; ')}` : ''}`)
      rec.ok = r.msgs > 0 && !r.bad && !r.closed && (!s || (s.scrapes > 0 && !s.failed))
      if (odd.length) rec.why = odd.join(', ')
      rec.valid = rec.ok
      if (rec.ok && sc.cpuBound && serverCpuPct < o.minCpu) {
        rec.valid = false
        rec.why = `server at ${serverCpuPct.toFixed(0)} % of a core (< ${o.minCpu} %): not the bottleneck`
      }
    }
  } catch (e) {
    rec.why = (e as Error).message
  } finally {
    if (server) {
      if (!server.alive) {
        rec.ok = rec.valid = false
        rec.why = `server ${server.describeExit()} during the run; last output:\n    ${server.tail.join('\n    ') || '(none)'}`
      }
      await server.stop()
    }
  }
  return rec
}

// ---- reporting -----------------------------------------------------------------------

const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-')
const median = (xs: number[]) => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}
const spread = (xs: number[]) => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs), n: xs.length })
type Spread = ReturnType<typeof spread>
const fmtSpread = (s: Spread, d = 2, unit = 'x') => (s.n ? `${fmt(s.median, d)}${unit} (min ${fmt(s.min, d)}, max ${fmt(s.max, d)}, ${s.n} pair${s.n > 1 ? 's' : ''})` : 'no valid pair')

function runLine(rec: RunRecord): string {
  if (rec.run) {
    const r = rec.run
    return `${fmt(r.msgsPerSec)} msgs/s, p50 ${fmt(r.p50Us)} µs, p99 ${fmt(r.p99Us)} µs, server CPU ${fmt(r.serverCpuPct)} % (${fmt(r.cpuUsPerMsg, 2)} µs/msg), load CPU ${fmt(r.loadCpuPct)} %${rec.scrape ? `, ${rec.scrape.scrapes} scrapes (slowest ${fmt(rec.scrape.slowestMs, 1)} ms)` : ''}${rec.valid ? '' : `  INVALID: ${rec.why}`}`
  }
  if (rec.accept) {
    const a = rec.accept
    return `${fmt(a.opened)} accepted in ${fmt(a.ms)} ms (${fmt(a.serverCpuUsPerAccept, 1)} µs CPU each), idle RSS at start ${fmt(a.startRss / 2 ** 20, 1)} MiB, rss ${fmt(a.rssPerConn)} B/conn, heap ${fmt(a.heapPerConn)} B/conn${rec.valid ? '' : `  INVALID: ${rec.why}`}`
  }
  return `FAILED: ${rec.why}`
}

/** Pairs of one round where both runs are valid. */
function pairs(recs: RunRecord[]): Array<[RunRecord, RunRecord]> {
  const out: Array<[RunRecord, RunRecord]> = []
  for (const p of recs.filter((r) => r.impl === 'plain' && r.valid)) {
    const e = recs.find((r) => r.impl === 'enet' && r.round === p.round && r.valid)
    if (e) out.push([p, e])
  }
  return out
}

function report(scenarios: Scenario[], records: RunRecord[], env: Env): Record<string, unknown> {
  const json: Record<string, unknown> = {}
  console.log('\nResults (median over valid runs; ratios are enet/plain within each pair: min, median, max):')
  for (const sc of scenarios) {
    const recs = records.filter((r) => r.scenario === sc.id)
    const ps = pairs(recs)
    const per: Record<string, unknown> = { label: sc.label }
    console.log(`\n${sc.id}  ${sc.label}${sc.kind === 'accept' ? ` (N = ${fmt(env.o.accepts)})` : ''}`)
    for (const impl of ['plain', 'enet'] as const) {
      const valid = recs.filter((r) => r.impl === impl && r.valid)
      if (sc.kind === 'accept') {
        const a = valid.map((r) => r.accept!)
        const f = { acceptMs: spread(a.map((x) => x.ms)), cpuUsPerAccept: spread(a.map((x) => x.serverCpuUsPerAccept)), startRssMiB: spread(a.map((x) => x.startRss / 2 ** 20)), rssPerConn: spread(a.map((x) => x.rssPerConn)), heapPerConn: spread(a.map((x) => x.heapPerConn)) }
        per[impl] = f
        console.log(`  ${impl.padEnd(6)} accept ${fmt(f.acceptMs.median)} ms (${fmt(f.cpuUsPerAccept.median, 1)} µs CPU/accept), idle RSS ${fmt(f.startRssMiB.median, 1)} MiB, ${fmt(f.rssPerConn.median)} B rss/conn, ${fmt(f.heapPerConn.median)} B heap/conn   [${valid.length} valid of ${recs.filter((r) => r.impl === impl).length}]`)
      } else {
        const r = valid.map((x) => x.run!)
        const f = { msgsPerSec: spread(r.map((x) => x.msgsPerSec)), p50Us: spread(r.map((x) => x.p50Us)), p99Us: spread(r.map((x) => x.p99Us)), serverCpuPct: spread(r.map((x) => x.serverCpuPct)), cpuUsPerMsg: spread(r.map((x) => x.cpuUsPerMsg)), loadCpuPct: spread(r.map((x) => x.loadCpuPct)) }
        per[impl] = f
        console.log(
          `  ${impl.padEnd(6)} ${fmt(f.msgsPerSec.median).padStart(10)} msgs/s (min ${fmt(f.msgsPerSec.min)}, max ${fmt(f.msgsPerSec.max)}), p50 ${fmt(f.p50Us.median)} µs, p99 ${fmt(f.p99Us.median)} µs, server CPU ${fmt(f.serverCpuPct.median)} %, ${fmt(f.cpuUsPerMsg.median, 2)} µs CPU/msg, load CPU ${fmt(f.loadCpuPct.median)} %   [${valid.length} valid of ${recs.filter((x) => x.impl === impl).length}]`,
        )
      }
    }
    if (sc.kind === 'accept') {
      const ratio = {
        acceptTime: spread(ps.map(([p, e]) => e.accept!.ms / p.accept!.ms)),
        cpuPerAccept: spread(ps.map(([p, e]) => e.accept!.serverCpuUsPerAccept / p.accept!.serverCpuUsPerAccept)),
        idleRss: spread(ps.map(([p, e]) => e.accept!.startRss / p.accept!.startRss)),
        rssPerConn: spread(ps.map(([p, e]) => e.accept!.rssPerConn / p.accept!.rssPerConn)),
        heapPerConn: spread(ps.map(([p, e]) => e.accept!.heapPerConn / p.accept!.heapPerConn)),
      }
      per.ratio = ratio
      console.log(`  ratio  accept time ${fmtSpread(ratio.acceptTime)}; CPU/accept ${fmtSpread(ratio.cpuPerAccept)}`)
      console.log(`         idle RSS ${fmtSpread(ratio.idleRss)}; rss/conn ${fmtSpread(ratio.rssPerConn)}; heap/conn ${fmtSpread(ratio.heapPerConn)}`)
    } else {
      const ratio = {
        msgsPerSec: spread(ps.map(([p, e]) => e.run!.msgsPerSec / p.run!.msgsPerSec)),
        p99: spread(ps.map(([p, e]) => e.run!.p99Us / p.run!.p99Us)),
        cpuPerMsg: spread(ps.map(([p, e]) => e.run!.cpuUsPerMsg / p.run!.cpuUsPerMsg)),
      }
      per.ratio = ratio
      console.log(`  ratio  msgs/s ${fmtSpread(ratio.msgsPerSec)}; p99 ${fmtSpread(ratio.p99)}; CPU/msg ${fmtSpread(ratio.cpuPerMsg)}`)
    }
    per.runs = recs.map((r) => ({ impl: r.impl, round: r.round, valid: r.valid, why: r.why, ...(r.run ? { msgsPerSec: Math.round(r.run.msgsPerSec), p50Us: r.run.p50Us, p99Us: r.run.p99Us, serverCpuPct: +r.run.serverCpuPct.toFixed(1), cpuUsPerMsg: +r.run.cpuUsPerMsg.toFixed(3), loadCpuPct: +r.run.loadCpuPct.toFixed(1) } : {}), ...(r.accept ?? {}) }))
    json[sc.id] = per
  }
  return json
}

// ---- main ------------------------------------------------------------------------------

function fileLimit(o: Options, scenarios: Scenario[], notes: string[]): number | null {
  if (!scenarios.some((s) => s.kind === 'accept')) return null
  const [soft, hard] = execFileSync('/bin/sh', ['-c', 'ulimit -Sn; ulimit -Hn'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((s) => (s.trim() === 'unlimited' ? Infinity : Number(s)))
  const need = o.accepts + 1024
  if (soft! >= need) return null
  if (hard! >= need) return need
  const n = Math.max(100, Math.floor(hard! - 1024))
  notes.push(`ulimit -n hard limit is ${hard}: accepts lowered from ${o.accepts} to ${n}`)
  o.accepts = n
  return Number.isFinite(hard!) ? hard! : null
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2))
  const scenarios = selectScenarios(o.only)
  const started = Date.now()
  if (!o.fakeEnet && !existsSync(BENCH('../core/index.ts'))) {
    console.error('bench: core/index.ts does not exist; run with --fake-enet to test the harness with plain in both slots')
    return 1
  }
  const notes: string[] = []
  const env: Env = { o, js: buildServers(), bin: buildLoadgen(), pin: pinning(os.cpus().length, o.pin), nofile: fileLimit(o, scenarios, notes), notes }
  const load = os.loadavg()
  console.log(
    `enet bench: node ${process.version}, ${os.cpus().length} CPUs, load average ${load.map((l) => l.toFixed(2)).join(' ')}; ${env.pin.text}; ` +
      `${o.rounds} paired round(s), ${o.settleMs > 0 ? `each server idle ${o.settleMs} ms after it listens, then ` : ''}warm-up ${o.warmupMs} ms + measured ${o.measureMs} ms; accept N = ${fmt(o.accepts)}${o.quick ? ' (--quick)' : ''}`,
  )
  if (o.fakeEnet) console.log('*** --fake-enet: the "enet" column is the PLAIN server (harness test), not enet ***')
  if (o.metrics) console.log(`*** --metrics: "plain" is enet with metrics off, "enet" is enet with metrics on (HTTP listener, ${o.scrapeMs > 0 ? `/metrics scraped every ${o.scrapeMs} ms` : 'never scraped'}): the ratio is the cost of metrics ***`)

  const records: RunRecord[] = []
  for (const sc of scenarios) {
    for (let round = 1; round <= o.rounds; round++) {
      // Alternate which server goes first, so a drift in the machine's load favours neither.
      const order: Impl[] = round % 2 ? ['plain', 'enet'] : ['enet', 'plain']
      for (const impl of order) {
        const rec = await runOne(sc, impl, round, env)
        records.push(rec)
        console.log(`  [${sc.id} round ${round}] ${impl.padEnd(5)} ${runLine(rec)}`)
      }
    }
  }
  const json = report(scenarios, records, env)
  const invalid = records.filter((r) => r.ok && !r.valid).length
  if (invalid) notes.push(`${invalid} run(s) invalid (server below ${o.minCpu} % of a core, or short of connections): other load on the machine, or the load generator, was the limit; their pairs are left out of the ratios`)
  if (o.cpuProfDir) notes.push(`server CPU profiles (--cpu-prof, one per run in plain/ and enet/; open in Chrome DevTools): ${o.cpuProfDir}`)
  if (notes.length) {
    console.log('\nNotes:')
    for (const n of notes) console.log(`  - ${n}`)
  }
  const seconds = (Date.now() - started) / 1000
  const loadEnd = os.loadavg()
  console.log(`\nTotal ${seconds.toFixed(1)} s; load average at the end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}.`)
  console.log(
    JSON.stringify({
      bench: 'enet-vs-plain',
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      loadavg: { start: load, end: loadEnd },
      pinning: env.pin.text,
      fakeEnet: o.fakeEnet,
      metrics: o.metrics,
      quick: o.quick,
      rounds: o.rounds,
      warmupMs: o.warmupMs,
      measureMs: o.measureMs,
      settleMs: o.settleMs,
      accepts: o.accepts,
      minCpuPct: o.minCpu,
      scenarios: json,
      notes,
      seconds: +seconds.toFixed(1),
    }),
  )
  return records.some((r) => !r.ok) ? 1 : 0
}

process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\nbench: ${sig}, stopping children`)
    killAll()
    process.exit(130)
  })
}

let code = 1
try {
  code = await main()
} catch (e) {
  console.error(`bench: ${(e as Error).stack ?? e}`)
} finally {
  killAll()
}
process.exit(code)
