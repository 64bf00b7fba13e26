// Transpiling off the main thread. Before the loader imports a TypeScript
// file, a worker thread (transpile-worker.cjs) transforms it, and the local
// TypeScript files it imports, into jiti's fsCache; the main thread's jiti
// then finds every file in the cache and never runs babel.
//
// Measured (bench/reload.ts): babel on the main thread blocked the event loop
// for tens of milliseconds per reload (and ~100 ms the first time, loading
// babel itself), so the worst 25 ms window of a reload under load served 21-30 %
// of steady throughput. In the worker, babel still took it to 67 % on a
// 2-vCPU machine; the worker now uses sucrase wherever it gives what babel
// gives (79-83 %), and babel for the rest. jiti stays the loader: the
// worker only warms its cache, with the same cache folder (cache-dir.ts), so
// the cache key (file, content hash, async) is the one the main thread looks
// up. Anything the worker misses or fails on (a syntax error, a file changed
// in between) the main thread transpiles itself with babel, as before, and
// reports as before.
//
// The worker starts on the first load, holds the process open only while it
// has work, and exits after IDLE_MS without any, so an idle server does not
// keep babel's memory.
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

/** A worker with nothing to do for this long exits; the next load starts another. */
const IDLE_MS = 15_000
/** The worker thread's nice value (Linux: per thread); ENET_TRANSPILE_NICE overrides it. */
const WORKER_NICE = Number(process.env.ENET_TRANSPILE_NICE ?? 5)
/** A transform taking longer than this is left to the main thread, and the worker stopped. */
const TIMEOUT_MS = 10_000
/** Sucrase where it gives what babel gives (transpile-worker.cjs); ENET_TRANSPILE_SUCRASE=0 leaves every file to babel. */
export const SUCRASE = process.env.ENET_TRANSPILE_SUCRASE !== '0'
/**
 * The cache folder's subfolder for what may have written it. jiti keys an
 * entry by file and source alone, so without this, turning sucrase off (or
 * a release that trusts it with less: bump the number) would go on reading
 * what sucrase wrote before.
 */
export const TRANSFORMS = SUCRASE ? 'sucrase-1' : 'babel'
/** The worker's script: plain CommonJS beside this file, in the sources and in dist/. */
const WORKER_SCRIPT = fileURLToPath(new URL('./transpile-worker.cjs', import.meta.url))

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
    private readonly timeoutMs = TIMEOUT_MS,
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
      // A worker that takes this long is stuck (a transform that never ends):
      // the next load must not wait behind it.
      const timer = setTimeout(() => void this.stop(), this.timeoutMs)
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
      const enetTranspiler = { jitiPath: jiti, base: import.meta.url, cacheDir: this.cacheDir, nice: WORKER_NICE, sucrase: SUCRASE }
      worker = new Worker(WORKER_SCRIPT, { workerData: { enetTranspiler } })
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
