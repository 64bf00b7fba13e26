// The compiled load generator (bench/loadgen.c): built once per source
// version with the system C compiler, run pinned to its own CPUs.
//
// Measured choice: a load generator written in Node saturated before plain
// Node's echo did, which pulled every enet/plain ratio toward 1. One C
// thread with epoll answers each read with one write and drives plain Node's
// TCP echo at ~100 % of the server's core while using ~80 % of its own.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const SOURCE = fileURLToPath(new URL('./loadgen.c', import.meta.url))
const CACHE = fileURLToPath(new URL('../node_modules/.cache/enet-bench/', import.meta.url))

/** Compile bench/loadgen.c unless this version of it is already built; returns the binary's path. */
export function buildLoadgen(): string {
  const src = readFileSync(SOURCE)
  const bin = join(CACHE, `loadgen-${createHash('sha256').update(src).digest('hex').slice(0, 12)}`)
  if (existsSync(bin)) return bin
  mkdirSync(CACHE, { recursive: true })
  const cc = process.env.CC ?? 'cc'
  try {
    execFileSync(cc, ['-O2', '-o', `${bin}.tmp`, SOURCE], { stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string }
    throw new Error(`bench: cannot compile bench/loadgen.c with ${cc} (set CC to a C compiler): ${e.stderr?.toString().trim() || e.message}`)
  }
  renameSync(`${bin}.tmp`, bin)
  return bin
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const JS_OUT = join(CACHE, 'js')

function newestMtime(dir: string): number {
  let t = 0
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : /\.(ts|cjs)$/.test(e.name) ? statSync(p).mtimeMs : 0)
  }
  return t
}

/**
 * Compile the two bench servers and the core to plain JS (bench/tsconfig.json)
 * unless the output is newer than every source; returns the output folder.
 * Both servers then run under plain node, as a user's compiled server would:
 * no loader hooks, no module-namespace proxy in front of each imported call.
 */
export function buildServers(): string {
  const info = join(JS_OUT, '.tsbuildinfo')
  const fresh = existsSync(info) && statSync(info).mtimeMs > Math.max(newestMtime(join(ROOT, 'core')), newestMtime(join(ROOT, 'bench')), statSync(join(ROOT, 'bench/tsconfig.json')).mtimeMs)
  if (!fresh) {
    // The project's own build (tsc, then the plain files tsc leaves out), into the bench's folder.
    try {
      execFileSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), 'bench/tsconfig.json', JS_OUT], { stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string }
      throw new Error(`bench: compiling the bench servers failed: ${e.stderr?.toString().trim() || e.message}`)
    }
  }
  return join(JS_OUT, 'bench')
}

/** CPU pinning: the server on CPU 0, the load on the others, when taskset exists and there are 2+ CPUs. */
export interface Pinning {
  server: string[]
  load: string[]
  text: string
}

export function pinning(cpus: number, enabled: boolean): Pinning {
  const none = (why: string): Pinning => ({ server: [], load: [], text: `not pinned (${why})` })
  if (!enabled) return none('--no-pin')
  if (cpus < 2) return none('1 CPU')
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' })
  } catch {
    return none('no taskset')
  }
  const load = cpus === 2 ? '1' : `1-${cpus - 1}`
  return { server: ['taskset', '-c', '0'], load: ['taskset', '-c', load], text: `server on CPU 0, load on CPU ${load} (taskset)` }
}

export interface LoadRun {
  msgs: number
  seconds: number
  msgsPerSec: number
  p50Us: number
  p99Us: number
  maxUs: number
  bad: number
  closed: number
  lost: number
  serverCpuSeconds: number
  loadCpuSeconds: number
  /** With `bucketMs`: replies per bucket of the window (it starts when `onMeasuring` is called). */
  bucketMs?: number
  buckets?: number[]
  errors: string[]
}

export interface AcceptRun {
  opened: number
  failed: number
  ms: number
  serverCpuSeconds: number
  loadCpuSeconds: number
  errors: string[]
}

function spawnLoad(bin: string, pin: Pinning, args: (string | number)[]): ChildProcess {
  const [cmd, ...pre] = [...pin.load, bin]
  return spawn(cmd!, [...pre, ...args.map(String)], { stdio: ['pipe', 'pipe', 'pipe'] })
}

/** Lines of a child's stdout as they come; rejects when it exits before `count` lines or after `timeoutMs`. */
function lines(child: ChildProcess, timeoutMs: number, onLine: (line: string, n: number) => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = ''
    let n = 0
    let err = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`loadgen: no result within ${timeoutMs} ms`))
    }, timeoutMs)
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        if (onLine(line, n++)) {
          clearTimeout(timer)
          resolve()
        }
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`loadgen exited (${code}) early${err ? `: ${err.trim()}` : ''}`))
    })
  })
}

/**
 * tcp or udp throughput run; `pid` is the server's, for its CPU time over the
 * window. With `bucketMs` (tcp), `onMeasuring` gets the window's start
 * (process.hrtime.bigint()'s clock) as the window starts.
 */
export async function loadRun(
  bin: string,
  pin: Pinning,
  kind: 'tcp' | 'udp',
  a: { port: number; conns: number; inflight: number; size: number; warmupMs: number; measureMs: number; pid: number; bucketMs?: number; onMeasuring?: (startNs: bigint) => void },
): Promise<LoadRun> {
  const child = spawnLoad(bin, pin, [kind, a.port, a.conns, a.inflight, a.size, a.warmupMs, a.measureMs, a.pid, ...(a.bucketMs ? [a.bucketMs] : [])])
  let out: LoadRun | undefined
  await lines(child, a.warmupMs + a.measureMs + 15_000, (line) => {
    const msg = JSON.parse(line) as LoadRun | { measuring: string }
    if ('measuring' in msg) {
      a.onMeasuring?.(BigInt(msg.measuring))
      return false
    }
    out = msg
    return true
  })
  return out!
}

/** A busy loop of `ms` on the load's CPUs at nice 19 (loadgen burn); resolves when it exits. */
export async function burnRun(bin: string, pin: Pinning, ms: number): Promise<void> {
  const child = spawnLoad(bin, { ...pin, load: ['nice', '-n', '19', ...pin.load] }, ['burn', ms])
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`loadgen burn exited with ${code}`))))
  })
}

export async function probe(bin: string, pin: Pinning, tcpPort: number, udpPort: number): Promise<{ ok: boolean; errors: string[] }> {
  const child = spawnLoad(bin, pin, ['probe', tcpPort, udpPort])
  let out: { ok: boolean; errors: string[] } | undefined
  await lines(child, 10_000, (line) => ((out = JSON.parse(line) as typeof out), true))
  return out!
}

/**
 * Open `count` connections (one echo each) and hold them; `release()` lets
 * them go (reset, no TIME_WAIT) and resolves when the generator is done.
 */
export async function acceptRun(bin: string, pin: Pinning, a: { port: number; count: number; concurrency: number; timeoutMs: number; pid: number }): Promise<{ result: AcceptRun; release: () => Promise<void> }> {
  const child = spawnLoad(bin, pin, ['accept', a.port, a.count, a.concurrency, a.timeoutMs, a.pid])
  let out: AcceptRun | undefined
  const done = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await lines(child, a.timeoutMs + 15_000, (line) => ((out = JSON.parse(line) as AcceptRun), true))
  return {
    result: out!,
    release: async () => {
      child.stdin!.end('go\n')
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await done
      clearTimeout(t)
    },
  }
}

export interface ScrapeRun {
  scrapes: number
  failed: number
  bytes: number
  slowestMs: number
  errors: string[]
}

/** GET /metrics every `intervalMs` (what Prometheus does) until `stop()`; bounded by `maxMs`. */
export function scrapeRun(bin: string, pin: Pinning, a: { port: number; intervalMs: number; maxMs: number }): { stop: () => Promise<ScrapeRun> } {
  const child = spawnLoad(bin, pin, ['scrape', a.port, a.intervalMs, a.maxMs])
  let out: ScrapeRun | undefined
  const done = lines(child, a.maxMs + 15_000, (line) => ((out = JSON.parse(line) as ScrapeRun), true))
  done.catch(() => {})
  return {
    stop: async () => {
      child.stdin!.end('stop\n')
      await done
      return out!
    },
  }
}
