// Transpiling off the main thread. Before the loader imports a TypeScript
// file, a worker thread runs jiti's own transform of it (and of the local
// TypeScript files it imports) into jiti's fsCache; the main thread's jiti
// then finds every file in the cache and never runs babel.
//
// Measured (bench/reload.ts): babel on the main thread blocked the event loop
// for tens of milliseconds per reload (and ~100 ms the first time, loading
// babel itself), so the worst 25 ms window of a reload under load served 21-30 %
// of steady throughput. jiti stays the loader: the worker only warms its cache,
// with the same options and the same cache folder (cache-dir.ts), so the cache
// key (file, content hash, async) is the one the main thread looks up. Anything
// the worker misses or fails on (a syntax error, a file changed in between)
// the main thread transpiles itself as before, and reports as before.
//
// The worker starts on the first load, holds the process open only while it
// has work, and exits after IDLE_MS without any, so an idle server does not
// keep babel's memory.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** A worker with nothing to do for this long exits; the next load starts another. */
const IDLE_MS = 15_000
/** The worker thread's nice value (Linux: per thread); ENET_TRANSPILE_NICE overrides it. */
const WORKER_NICE = Number(process.env.ENET_TRANSPILE_NICE ?? 5)
/** A transform taking longer than this is left to the main thread. */
const TIMEOUT_MS = 10_000

// Plain CommonJS, evaluated as the worker's script: it runs the same whether
// the core runs from TypeScript sources or from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { readFileSync } = require('node:fs')
const { pathToFileURL, fileURLToPath } = require('node:url')
const { createJiti } = require(workerData.jiti)
// Linux keeps a nice value per thread: this lowers the worker alone, so on a
// busy machine the event loop keeps its CPU and babel runs in what is left.
try { require('node:os').setPriority(workerData.nice) } catch {}
const jiti = createJiti(workerData.base, { moduleCache: false, fsCache: workerData.cacheDir })
const TS = /\\.[cm]?tsx?$/
// Local imports of jiti's async (import) output: jitiImport("./x.ts"), require("../y").
const LOCAL = /\\b(?:jitiImport|require)\\(\\s*(["'])(\\.{1,2}\\/[^"']+)\\1\\s*\\)/g
parentPort.on('message', ({ id, file }) => {
  const files = []
  const seen = new Set()
  const visit = (f) => {
    if (seen.has(f) || !TS.test(f) || f.includes('/node_modules/')) return
    seen.add(f)
    let source
    try { source = readFileSync(f, 'utf8') } catch { return }
    let code
    try { code = jiti.transform({ filename: f, source, ts: true, async: true, jsx: false }) } catch { return }
    files.push(f)
    for (const m of code.matchAll(LOCAL)) {
      try { visit(fileURLToPath(jiti.esmResolve(m[2], { parentURL: pathToFileURL(f).href }))) } catch {}
    }
  }
  visit(file)
  parentPort.postMessage({ id, files })
})
`

interface Pending {
  resolve: (files: string[]) => void
  timer: NodeJS.Timeout
}

export class Transpiler {
  private worker: Worker | null = null
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private idle: NodeJS.Timeout | undefined

  constructor(
    private readonly cacheDir: string,
    private readonly idleMs = IDLE_MS,
  ) {}

  /**
   * Transform `file` and the local TypeScript it imports into the cache.
   * Resolves with the files transformed (empty when the worker could not
   * help); never rejects: the main thread's jiti is the fallback.
   */
  warm(file: string): Promise<string[]> {
    if (!/\.[cm]?tsx?$/.test(file)) return Promise.resolve([])
    const worker = this.start()
    if (worker === null) return Promise.resolve([])
    clearTimeout(this.idle)
    const id = this.nextId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, []), TIMEOUT_MS)
      timer.unref()
      this.pending.set(id, { resolve, timer })
      // Held open while it has work (a load awaits it, maybe before any socket
      // listens), let go when idle.
      worker.ref()
      worker.postMessage({ id, file })
    })
  }

  private start(): Worker | null {
    if (this.worker) return this.worker
    let worker: Worker
    try {
      const jiti = createRequire(import.meta.url).resolve('jiti')
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { jiti, base: import.meta.url, cacheDir: this.cacheDir, nice: WORKER_NICE } })
    } catch {
      return null
    }
    worker.on('message', (m: { id: number; files: string[] }) => this.settle(m.id, m.files))
    const gone = () => {
      if (this.worker !== worker) return
      this.worker = null
      for (const id of [...this.pending.keys()]) this.settle(id, [])
    }
    worker.on('error', gone)
    worker.on('exit', gone)
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref()
    this.worker = worker
    return worker
  }

  private settle(id: number, files: string[]): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    clearTimeout(p.timer)
    p.resolve(files)
    if (this.pending.size === 0 && this.worker) {
      this.worker.unref()
      clearTimeout(this.idle)
      this.idle = setTimeout(() => void this.stop(), this.idleMs)
      this.idle.unref()
    }
  }

  /** Stop the worker now (the next warm() starts another). */
  async stop(): Promise<void> {
    clearTimeout(this.idle)
    const worker = this.worker
    this.worker = null
    for (const id of [...this.pending.keys()]) this.settle(id, [])
    if (worker) await worker.terminate()
  }
}
