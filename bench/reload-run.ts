// Reload figures: save → new version answering (idle, then under load), the
// throughput dip while a saved plugin reloads under load, and heap growth over
// many reloads. ENET_TRANSPILE_WORKER=0 transpiles on the main thread instead
// of the worker (core/runtime/transpiler.ts), for a before/after in one machine state.
// Run through bench/reload.ts, which compiles this (bench/tsconfig.json) and
// runs the JS under plain node --expose-gc: the server under test is the
// compiled core, as a user's is. Run from TypeScript through bin/run.mjs,
// jiti's module hooks sat in front of every import the server made (Node's
// loader asks its hooks thread synchronously): a cost no user's server has.
//
// The idle saves and the heap run use an app in this process. The load phase
// does not: a server child (reload-server.ts) on CPU 0, saturated by the
// compiled load generator (ENET_BENCH_LOADGEN, bench/loadgen.c) on CPU 1, as
// `npm run bench` runs its servers. Measured choice: with the load in this
// process too, its own garbage collections and timers made 25 ms windows
// without any reload fall to 73 % of steady, as low as the reloads' worst.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { connect, type Client } from '../core/client/index.ts'
import { startApp } from '../core/runtime/app.ts'
import { SUCRASE } from '../core/runtime/transpiler.ts'
import { killAll, ServerChild } from './children.ts'
import { burnRun, loadRun, pinning, type LoadRun, type Pinning } from './loadgen.ts'

// Strict: a mistyped flag stops here instead of running the full 500 reloads.
// `npm run bench` (bench/all.ts) hands this part only the flags it knows.
let quick = false
try {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { quick: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } })
  if (values.help) {
    console.log('usage: npm run bench:reload -- [--quick]')
    process.exit(0)
  }
  quick = values.quick
} catch (err) {
  console.error(`bench/reload: ${(err as Error).message}\nusage: npm run bench:reload -- [--quick]`)
  process.exit(2)
}
const SAVES = quick ? 20 : 50
const RELOADS = quick ? 100 : 500

// msgId 1 echoes (the load generator's route, as in bench/enet-server.ts);
// msgId 2 answers the version's tag (the probe that sees a save go live).
const plugin = (tag: string, pad = 0) => `import { definePlugin } from 'enet'
// ${'x'.repeat(pad)}
export default definePlugin({
  name: 'echo',
  routes: {
    1: (req) => { req.reply(1, req.data) },
    2: (req) => { req.reply(2, '${tag}') },
  },
})
`
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** An app folder with the echo plugin at tag t0; returns the folder and the plugin's file. */
function appFolder(): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'enet-reload-bench-'))
  const file = join(root, 'plugins/echo/index.ts')
  mkdirSync(join(root, 'plugins/echo'), { recursive: true })
  writeFileSync(file, plugin('t0'))
  writeFileSync(
    join(root, 'enet.config.ts'),
    `export default { tcp: { host: '127.0.0.1', port: 0 }, udp: { host: '127.0.0.1', port: 0 }, log: { level: 'warn' }, admin: { socket: false }, plugins: { debounceMs: 20 } }`,
  )
  return { root, file }
}

/** Ask msgId 2 until it answers `tag`: one request in flight, the next as each answer comes; at most 10 s. */
async function awaitTag(probe: Client, tag: string): Promise<void> {
  const deadline = performance.now() + 10_000
  while (performance.now() < deadline) {
    if ((await probe.request(2, '', { timeoutMs: 2_000 })).data.toString() === tag) return
  }
  throw new Error(`bench/reload: version ${tag} did not answer within 10 s of its save`)
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!
}

interface Dip {
  saves: number
  saveToAnswerMs: number[]
  steadyMsgsPerSec: number
  /** Per save, its worst bucket from the save to 50 ms after its answer, over steady. */
  worstPerSave: number[]
  /** The same for each reload of the unchanged file, its transform cached: the event loop's part of a reload. */
  worstPerCachedReload: number[]
  /** The same for each control: BURN_MS of busy loop on the load's CPU at nice 19, no reload. */
  worstPerBurn: number[]
  /** The same for windows of as many buckets with nothing in them: the machine's own floor. */
  worstPerQuietWindow: number[]
  /** Per kind of event, the median over its events of each bucket from the one before it on, over steady: where the dip falls. */
  shape: { save: number[]; reload: number[]; control: number[] }
  serverCpuPct: number
  loadCpuPct: number
  pinned: string
}

/** How long each control's busy loop runs: about a transpile's wall time in the worker under this load. */
const BURN_MS = 15
/** Buckets in each event's shape: the one before it, and 175 ms from its start. */
const SHAPE_BUCKETS = 8

/**
 * The load phase: the server child saturated by the load generator (64
 * connections x 16 in flight x 64 B, as `npm run bench` tcp64). Every 400 ms
 * comes, in turn: a real save (changed content, so it is transpiled anew)
 * that the watcher picks up, seen going live on msgId 2 by this process; a
 * reload of the file as it is (over IPC: no watcher, no transpiling); a
 * control, a busy loop on the load's CPU. Replies are counted per 25 ms
 * bucket by the generator.
 *
 * Only the server's main thread is pinned (to CPU 0, once it listens): its
 * transpile worker, started by the first load, and Node's helper threads may
 * run on the other CPU, as they would on a host with cores to spare. Pinning
 * the whole process instead puts the worker on the event loop's CPU.
 */
async function underLoad(durationMs: number): Promise<Dip> {
  const bin = process.env.ENET_BENCH_LOADGEN
  if (!bin) throw new Error('bench/reload: ENET_BENCH_LOADGEN (the compiled bench/loadgen.c) is not set: run it through npm run bench:reload')
  const BUCKET = 25
  const WARMUP = 1_000
  const pin = pinning(cpus().length, true)
  const { root, file } = appFolder()
  const entry = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './reload-server.ts' : './reload-server.js', import.meta.url))
  let server: ServerChild | undefined
  let probe: Client | undefined
  try {
    server = await ServerChild.start('enet', entry, { prefix: [], nodeFlags: [], nofile: null, env: { ...process.env, ENET_BENCH_ROOT: root } })
    const pinned = pinMainThread(server.pid, pin)
    probe = connect(`tcp://127.0.0.1:${server.ready.tcp.port}`, { reconnect: false })
    await probe.ready()
    let run!: Promise<LoadRun>
    const port = server.ready.tcp.port
    const pid = server.pid
    const started = new Promise<bigint>((onMeasuring) => {
      run = loadRun(bin, pin, 'tcp', { port, conns: 64, inflight: 16, size: 64, warmupMs: WARMUP, measureMs: durationMs, pid, bucketMs: BUCKET, onMeasuring })
    })
    // If the generator fails before its window opens, `run` rejects and says why.
    const start = await Promise.race([started, run.then(() => 0n)])
    const since = () => Number(process.hrtime.bigint() - start) / 1e6
    const saves: Array<[bigint, bigint]> = []
    const burns: Array<[bigint, bigint]> = []
    const cached: Array<[bigint, bigint]> = []
    // The last event has its end and 50 ms more inside the window.
    for (let n = 1; since() + 400 + 250 < durationMs; n++) {
      await sleep(400)
      const at = process.hrtime.bigint()
      if (n % 3 === 2) {
        await server.reload()
        cached.push([at, process.hrtime.bigint()])
        continue
      }
      if (n % 3 === 0) {
        await burnRun(bin, pin, BURN_MS)
        burns.push([at, process.hrtime.bigint()])
        continue
      }
      const tag = `load${n}`
      writeFileSync(file, plugin(tag))
      await awaitTag(probe, tag)
      saves.push([at, process.hrtime.bigint()])
    }
    const r = await run
    if (!r.buckets || start === 0n) throw new Error('bench/reload: the load generator printed no buckets')
    const at = (t: bigint) => Math.floor(Number(t - start) / 1e6 / BUCKET)
    const rates = r.buckets.map((x) => (x * 1000) / BUCKET)
    // The buckets past the window's end are cut short.
    const usable = Math.floor(durationMs / BUCKET)
    const span = ([s, e]: [bigint, bigint]) => [at(s), Math.min(usable - 1, at(e + 50_000_000n))] as const
    const [saveSpans, cachedSpans, burnSpans] = [saves.map(span), cached.map(span), burns.map(span)]
    const windows = [...saveSpans, ...cachedSpans, ...burnSpans]
    const near = new Set(windows.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => a + k)))
    const steady = rates.slice(0, usable).filter((_, i) => !near.has(i))
    const steadyMedian = pct([...steady].sort((a, b) => a - b), 0.5)
    // Bucket -1 (before the event) to SHAPE_BUCKETS - 2 after its start.
    const shape = (spans: ReadonlyArray<readonly [number, number]>) =>
      Array.from({ length: SHAPE_BUCKETS }, (_, k) => {
        const at = spans.map(([a]) => a - 1 + k).filter((i) => i >= 0 && i < usable)
        return pct(at.map((i) => rates[i]! / steadyMedian).sort((x, y) => x - y), 0.5)
      })
    const worst = (spans: ReadonlyArray<readonly [number, number]>) => spans.map(([a, b]) => Math.min(...rates.slice(a, b + 1)) / steadyMedian)
    // Quiet windows: runs of as many buckets as the longest event's, nothing in them.
    const len = Math.max(...windows.map(([a, b]) => b - a + 1))
    const worstPerQuietWindow: number[] = []
    for (let i = 0; i + len <= usable; ) {
      const w = Array.from({ length: len }, (_, k) => i + k)
      if (w.some((k) => near.has(k))) {
        i++
        continue
      }
      worstPerQuietWindow.push(Math.min(...w.map((k) => rates[k]!)) / steadyMedian)
      i += len
    }
    return {
      saves: saves.length,
      saveToAnswerMs: saves.map(([s, a]) => Number(a - s) / 1e6),
      steadyMsgsPerSec: steadyMedian,
      worstPerSave: worst(saveSpans),
      worstPerCachedReload: worst(cachedSpans),
      worstPerBurn: worst(burnSpans),
      worstPerQuietWindow,
      shape: { save: shape(saveSpans), reload: shape(cachedSpans), control: shape(burnSpans) },
      serverCpuPct: (r.serverCpuSeconds / r.seconds) * 100,
      loadCpuPct: (r.loadCpuSeconds / r.seconds) * 100,
      pinned,
    }
  } finally {
    await probe?.close()
    await server?.stop()
    rmSync(root, { recursive: true, force: true })
  }
}

/** Pin the server's main thread alone (taskset -p: one thread's mask); its threads started already keep theirs. */
function pinMainThread(pid: number, pin: Pinning): string {
  if (!pin.server.length) return pin.text
  execFileSync('taskset', ['-p', '-c', '0', String(pid)], { stdio: 'ignore' })
  return `server's main thread on CPU 0, load on CPU ${pin.load.at(-1)} (taskset)`
}

async function main(): Promise<void> {
  const { root, file } = appFolder()
  const app = await startApp({ cwd: root })
  const probe = connect(`tcp://127.0.0.1:${app.server.address().tcp!.port}`, { reconnect: false })
  try {
    await probe.ready()
    // 1. Save → answer: write the file, ask until the reply carries the new tag.
    // And the longest the event loop was held meanwhile (a 1 ms timer's
    // lateness): what a reload itself blocks, which bounds its dip under load.
    const saveMs: number[] = []
    const heldMs: number[] = []
    let tick = performance.now()
    let held = 0
    const ticker = setInterval(() => {
      const now = performance.now()
      held = Math.max(held, now - tick - 1)
      tick = now
    }, 1)
    for (let i = 1; i <= SAVES; i++) {
      const tag = `t${i}`
      await sleep(20)
      tick = performance.now()
      held = 0
      const t0 = performance.now()
      writeFileSync(file, plugin(tag))
      await awaitTag(probe, tag)
      saveMs.push(performance.now() - t0)
      heldMs.push(held)
    }
    clearInterval(ticker)
    saveMs.sort((a, b) => a - b)
    heldMs.sort((a, b) => a - b)

    // 2. Under load, in a server child (see the top of this file).
    const dip = await underLoad(quick ? 5_000 : 15_000)
    const underLoadMs = [...dip.saveToAnswerMs].sort((a, b) => a - b)
    const perSave = [...dip.worstPerSave].sort((a, b) => a - b)
    const perBurn = [...dip.worstPerBurn].sort((a, b) => a - b)
    const perCached = [...dip.worstPerCachedReload].sort((a, b) => a - b)
    const perQuiet = [...dip.worstPerQuietWindow].sort((a, b) => a - b)

    // 3. Heap over many reloads, each of a changed file (a new transform every time).
    const gc = (globalThis as { gc?: () => void }).gc
    const heap = () => {
      gc?.()
      gc?.()
      return process.memoryUsage().heapUsed
    }
    for (let i = 0; i < 20; i++) {
      writeFileSync(file, plugin(`w${i}`, i))
      await app.plugins.reload('echo')
    }
    await app.plugins.settled()
    const h0 = heap()
    const marks: number[] = []
    for (let i = 0; i < RELOADS; i++) {
      writeFileSync(file, plugin(`h${i}`, i % 50))
      await app.plugins.reload('echo')
      if ((i + 1) % (RELOADS / 5) === 0) {
        await app.plugins.settled()
        marks.push(heap() - h0)
      }
    }

    const kb = (b: number) => `${(b / 1024).toFixed(0)} KiB`
    const pc = (x: number) => `${(x * 100).toFixed(0)}%`
    const transpiling =
      process.env.ENET_TRANSPILE_WORKER === '0' ? 'on the main thread with babel (ENET_TRANSPILE_WORKER=0)' : `in a worker thread, ${SUCRASE ? 'with sucrase where it can' : 'with babel only (ENET_TRANSPILE_SUCRASE=0)'}`
    console.log(`reload: save → new version answering over ${SAVES} saves: median ${pct(saveMs, 0.5).toFixed(1)} ms, p99 ${pct(saveMs, 0.99).toFixed(1)} ms, min ${saveMs[0]!.toFixed(1)} ms`)
    console.log(`reload: the event loop held at most, per save (a 1 ms timer's lateness, no load): median ${pct(heldMs, 0.5).toFixed(1)} ms, max ${heldMs[heldMs.length - 1]!.toFixed(1)} ms`)
    console.log(`reload: under load (${dip.pinned}; server at ${dip.serverCpuPct.toFixed(0)} % of a core, load ${dip.loadCpuPct.toFixed(0)} %), save → new version answering over ${dip.saves} saves: median ${pct(underLoadMs, 0.5).toFixed(1)} ms, p99 ${pct(underLoadMs, 0.99).toFixed(1)} ms, max ${underLoadMs[underLoadMs.length - 1]!.toFixed(1)} ms`)
    console.log(
      `reload: throughput in 25 ms buckets, steady median ${dip.steadyMsgsPerSec.toFixed(0)} msg/s; per save, its worst bucket from the save to 50 ms after its answer: median ${pc(pct(perSave, 0.5))}, worst ${pc(perSave[0]!)} of steady; ` +
        `for ${perCached.length} reloads of the unchanged file (transform cached, no watcher): median ${pc(pct(perCached, 0.5))}, worst ${pc(perCached[0]!)}; ` +
        `for ${perBurn.length} controls (no reload: ${BURN_MS} ms of busy loop on the load's CPU at nice 19): median ${pc(pct(perBurn, 0.5))}, worst ${pc(perBurn[0]!)}; ` +
        `for ${perQuiet.length} windows as long with nothing in them (the machine's own floor): median ${perQuiet.length ? pc(pct(perQuiet, 0.5)) : 'n/a'}, worst ${perQuiet.length ? pc(perQuiet[0]!) : 'n/a'}; transpiling ${transpiling}`,
    )
    const row = (xs: number[]) => xs.map((x) => (x * 100).toFixed(0)).join(' ')
    console.log(`reload: median throughput per 25 ms bucket as % of steady, from the bucket before the event: save ${row(dip.shape.save)}; reload of the unchanged file ${row(dip.shape.reload)}; control ${row(dip.shape.control)}`)
    console.log(`reload: heap growth after ${RELOADS} reloads (gc ${gc ? 'on' : 'OFF: run with --expose-gc'}): ${marks.map((m, i) => `${((i + 1) * RELOADS) / 5}: ${kb(m)}`).join(', ')}`)
    const r2 = (x: number) => +x.toFixed(2)
    console.log(
      JSON.stringify({
        reload: {
          saves: SAVES,
          saveToAnswerMs: { median: +pct(saveMs, 0.5).toFixed(1), p99: +pct(saveMs, 0.99).toFixed(1) },
          loopHeldMs: { median: +pct(heldMs, 0.5).toFixed(1), max: +heldMs[heldMs.length - 1]!.toFixed(1) },
          underLoad: { saves: dip.saves, serverCpuPct: +dip.serverCpuPct.toFixed(1), saveToAnswerMs: { median: +pct(underLoadMs, 0.5).toFixed(1), p99: +pct(underLoadMs, 0.99).toFixed(1), max: +underLoadMs[underLoadMs.length - 1]!.toFixed(1) } },
          transpileWorker: process.env.ENET_TRANSPILE_WORKER !== '0',
          sucrase: process.env.ENET_TRANSPILE_WORKER !== '0' && SUCRASE,
          dip: {
            steadyMsgsPerSec: Math.round(dip.steadyMsgsPerSec),
            perSave: { median: r2(pct(perSave, 0.5)), worst: r2(perSave[0]!) },
            cachedReload: { n: perCached.length, median: r2(pct(perCached, 0.5)), worst: r2(perCached[0]!) },
            burnControl: { ms: BURN_MS, n: perBurn.length, median: r2(pct(perBurn, 0.5)), worst: r2(perBurn[0]!) },
            quietWindows: { n: perQuiet.length, median: perQuiet.length ? r2(pct(perQuiet, 0.5)) : null, worst: perQuiet.length ? r2(perQuiet[0]!) : null },
            shape: { save: dip.shape.save.map(r2), reload: dip.shape.reload.map(r2), control: dip.shape.control.map(r2) },
          },
          heapGrowthBytes: marks,
          reloads: RELOADS,
        },
      }),
    )
  } finally {
    await probe.close()
    await app.close()
    rmSync(root, { recursive: true, force: true })
  }
}

try {
  await main()
} finally {
  killAll()
}
