// Reload figures: save → new version answering (idle, then under load), the
// throughput dip while a saved plugin reloads under load, and heap growth over
// many reloads. ENET_TRANSPILE_WORKER=0 transpiles on the main thread instead
// of the worker (core/runtime/transpiler.ts), for a before/after in one machine state.
// Run through bench/reload.ts, which compiles this (bench/tsconfig.json) and
// runs the JS under plain node --expose-gc: the server under test is the
// compiled core, as a user's is. Run from TypeScript through bin/run.mjs,
// jiti's module hooks sat in front of every import the server made (Node's
// loader asks its hooks thread synchronously): a cost no user's server has.
// Client and server share this process (and its 2 cores' worth of noise):
// read the dip as a ratio within this run, not as an absolute.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { connect, type Client } from '../core/client/index.ts'
import { startApp } from '../core/runtime/app.ts'

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

const plugin = (tag: string, pad = 0) => `import { definePlugin } from 'enet'
// ${'x'.repeat(pad)}
export default definePlugin({
  name: 'echo',
  routes: { 1: (req) => { req.reply(1, '${tag}') } },
})
`

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'enet-reload-bench-'))
  const file = join(root, 'plugins/echo/index.ts')
  mkdirSync(join(root, 'plugins/echo'), { recursive: true })
  writeFileSync(file, plugin('t0'))
  writeFileSync(
    join(root, 'enet.config.ts'),
    `export default { tcp: { host: '127.0.0.1', port: 0 }, udp: { enabled: false }, log: { level: 'warn' }, admin: { socket: false }, plugins: { debounceMs: 20 } }`,
  )
  const app = await startApp({ cwd: root })
  const port = app.server.address().tcp!.port
  const clients: Client[] = []
  const open = async () => {
    const c = connect(`tcp://127.0.0.1:${port}`, { reconnect: false })
    clients.push(c)
    await c.ready()
    return c
  }
  try {
    // 1. Save → answer: write the file, ask until the reply carries the new tag.
    // And the longest the event loop was held meanwhile (a 1 ms timer's
    // lateness): what a reload itself blocks, which bounds its dip under load.
    const probe = await open()
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
      await new Promise((r) => setTimeout(r, 20))
      tick = performance.now()
      held = 0
      const t0 = performance.now()
      writeFileSync(file, plugin(tag))
      for (let tries = 0; tries < 100_000; tries++) {
        if ((await probe.request(1, '', { timeoutMs: 2_000 })).data.toString() === tag) break
      }
      saveMs.push(performance.now() - t0)
      heldMs.push(held)
    }
    clearInterval(ticker)
    saveMs.sort((a, b) => a - b)
    heldMs.sort((a, b) => a - b)

    // 2. Under load: 8 connections x 16 in flight; every 400 ms a real save
    // (changed content, so it is transpiled anew) that the watcher picks up.
    // Per save: save -> the first load reply carrying the new tag, and the
    // replies per 25 ms window from the save to 50 ms after that answer.
    const load = await Promise.all(Array.from({ length: 8 }, open))
    const BUCKET = 25
    const buckets: number[] = []
    const underLoadMs: number[] = []
    const windows: Array<[number, number]> = []
    const start = performance.now()
    const DURATION = quick ? 2_000 : 4_000
    let stop = false
    let want = ''
    let savedAt = 0
    const loops = load.flatMap((c) =>
      Array.from({ length: 16 }, async () => {
        while (!stop) {
          const r = await c.request(1, '', { timeoutMs: 5_000 })
          const now = performance.now()
          const b = Math.floor((now - start) / BUCKET)
          buckets[b] = (buckets[b] ?? 0) + 1
          if (want !== '' && r.data.toString() === want) {
            underLoadMs.push(now - savedAt)
            windows.push([savedAt - start, now - start + 50])
            want = ''
          }
        }
      }),
    )
    let n = 0
    while (performance.now() - start < DURATION) {
      await new Promise((r) => setTimeout(r, 400))
      if (want !== '') continue
      const tag = `load${++n}`
      savedAt = performance.now()
      want = tag
      writeFileSync(file, plugin(tag))
    }
    // The last save gets its answer before the load stops.
    for (let i = 0; i < 200 && want !== ''; i++) await new Promise((r) => setTimeout(r, 10))
    stop = true
    await Promise.all(loops)
    const rates = buckets.map((x) => ((x ?? 0) * 1000) / BUCKET)
    const near = new Set(windows.flatMap(([a, b]) => Array.from({ length: Math.floor(b / BUCKET) - Math.floor(a / BUCKET) + 1 }, (_, k) => Math.floor(a / BUCKET) + k)))
    // The last window is cut short by the stop: leave it out.
    const last = rates.length - 1
    const steady = rates.filter((_, i) => i > 2 && i < last && !near.has(i)).sort((a, b) => a - b)
    const during = rates.filter((_, i) => near.has(i) && i < last)
    const steadyMedian = pct(steady, 0.5)
    const worst = Math.min(...during)
    underLoadMs.sort((a, b) => a - b)

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
    console.log(`reload: save → new version answering over ${SAVES} saves: median ${pct(saveMs, 0.5).toFixed(1)} ms, p99 ${pct(saveMs, 0.99).toFixed(1)} ms, min ${saveMs[0]!.toFixed(1)} ms`)
    console.log(`reload: the event loop held at most, per save (a 1 ms timer's lateness, no load): median ${pct(heldMs, 0.5).toFixed(1)} ms, max ${heldMs[heldMs.length - 1]!.toFixed(1)} ms`)
    console.log(`reload: under load, save → new version answering over ${underLoadMs.length} saves: median ${pct(underLoadMs, 0.5).toFixed(1)} ms, p99 ${pct(underLoadMs, 0.99).toFixed(1)} ms, max ${underLoadMs[underLoadMs.length - 1]!.toFixed(1)} ms`)
    console.log(`reload: throughput in ${BUCKET} ms buckets: steady median ${steadyMedian.toFixed(0)} msg/s; worst bucket from a save to its answer (+50 ms) ${worst.toFixed(0)} msg/s (${((worst / steadyMedian) * 100).toFixed(0)}% of steady; for the machine's own noise, the steady windows' 5th percentile is ${pct(steady, 0.05).toFixed(0)} msg/s, ${((pct(steady, 0.05) / steadyMedian) * 100).toFixed(0)}%, their worst ${steady[0]!.toFixed(0)}); transpiling ${process.env.ENET_TRANSPILE_WORKER === '0' ? 'on the main thread (ENET_TRANSPILE_WORKER=0)' : 'in a worker thread'}`)
    console.log(`reload: heap growth after ${RELOADS} reloads (gc ${gc ? 'on' : 'OFF: run with --expose-gc'}): ${marks.map((m, i) => `${((i + 1) * RELOADS) / 5}: ${kb(m)}`).join(', ')}`)
    console.log(
      JSON.stringify({
        reload: {
          saves: SAVES,
          saveToAnswerMs: { median: +pct(saveMs, 0.5).toFixed(1), p99: +pct(saveMs, 0.99).toFixed(1) },
          loopHeldMs: { median: +pct(heldMs, 0.5).toFixed(1), max: +heldMs[heldMs.length - 1]!.toFixed(1) },
          underLoad: { saves: underLoadMs.length, saveToAnswerMs: { median: +pct(underLoadMs, 0.5).toFixed(1), p99: +pct(underLoadMs, 0.99).toFixed(1), max: +underLoadMs[underLoadMs.length - 1]!.toFixed(1) } },
          transpileWorker: process.env.ENET_TRANSPILE_WORKER !== '0',
          dip: { steadyMsgsPerSec: Math.round(steadyMedian), worstMsgsPerSec: Math.round(worst), ratio: +(worst / steadyMedian).toFixed(2), steadyP5Ratio: +(pct(steady, 0.05) / steadyMedian).toFixed(2), steadyWorstRatio: +(steady[0]! / steadyMedian).toFixed(2) },
          heapGrowthBytes: marks,
          reloads: RELOADS,
        },
      }),
    )
  } finally {
    await Promise.all(clients.map((c) => c.close()))
    await app.close()
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
