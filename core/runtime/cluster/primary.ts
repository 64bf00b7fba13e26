// The primary of `enet start --workers N` (node:cluster): forks the workers,
// relays topic messages between them, asks all of them (admin, shutdown),
// replaces a worker that dies, and stops them all on close.
//
// TCP: every worker listens on the same address; node:cluster's primary
// accepts and hands connections round-robin, so the port is shared. UDP:
// worker 0 alone binds the UDP socket (exclusive), so a peer's datagrams all
// reach one process, in order, and replies leave from the listening port.
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { EnetError, describe } from '../../errors.ts'
import type { ServerAddress } from '../../types.ts'
import { IpcLink, type RequestHandler } from './link.ts'
import { WORKER_ENV, WORKERS_ENV } from './worker.ts'

/** Pins the UDP port a replacement worker 0 binds, when the first one was given port 0. */
export const WORKER_UDP_ENV = 'ENET_WORKER_UDP'
/** A worker index replaced more often than this within RESPAWN_WINDOW_MS stops the server. */
const MAX_RESPAWNS = 5
const RESPAWN_WINDOW_MS = 60_000
/** After answering shutdown, how long a worker may take to exit before it is killed. */
const EXIT_GRACE_MS = 2_000

export interface PrimaryOptions {
  workers: number
  log: Logger
  /** How long a worker may take from fork to listening. */
  startTimeoutMs?: number
  /** How long a worker's drain may take on stop before it is killed. */
  stopTimeoutMs: number
}

export interface WorkerAnswer<T = unknown> {
  worker: number
  pid: number
  ok: boolean
  data?: T
  error?: string
}

interface Slot {
  readonly index: number
  worker: Worker
  link: IpcLink
  address: ServerAddress | null
  exited: Promise<void>
  respawns: number[]
}

export class ClusterPrimary {
  private readonly slots: Slot[] = []
  private readonly handlers = new Map<string, RequestHandler>()
  private readonly topics = new Map<string, Set<(data: unknown, from: number) => void>>()
  private stopping = false
  private onFatal: ((err: Error) => void) | null = null

  constructor(private readonly opts: PrimaryOptions) {
    // Buffers and Maps cross the IPC channel as they are.
    cluster.setupPrimary({ serialization: 'advanced' })
  }

  get size(): number {
    return this.slots.length
  }

  /** Fork every worker; resolves with the address once all listen. A worker that fails to start fails it. */
  async start(): Promise<ServerAddress> {
    const started = Array.from({ length: this.opts.workers }, (_, i) => this.fork(i, []))
    await Promise.all(started)
    return this.address()
  }

  /** Worker 0's: TCP, WebSocket and TLS are the same in every worker (one shared port each), and UDP is worker 0's. */
  address(): ServerAddress {
    return { ...this.slots[0]?.address }
  }

  pids(): number[] {
    return this.slots.map((s) => s.worker.process.pid!)
  }

  /** Called when the server cannot go on (a worker that keeps dying). */
  onFatalError(fn: (err: Error) => void): void {
    this.onFatal = fn
  }

  /** Answer requests of `type` that workers send to the primary. */
  handle(type: string, fn: RequestHandler): void {
    this.handlers.set(type, fn)
    for (const s of this.slots) s.link.handle(type, fn)
  }

  /** Topic messages from any worker (they reach the other workers too). */
  subscribe(topic: string, fn: (data: unknown, from: number) => void): () => void {
    let set = this.topics.get(topic)
    if (set === undefined) this.topics.set(topic, (set = new Set()))
    set.add(fn)
    return () => set.delete(fn)
  }

  /** Send a topic message to every worker. */
  publish(topic: string, data: unknown): void {
    for (const s of this.slots) s.link.publish(topic, data, -1)
  }

  /** Ask every worker; each answer or failure is reported by worker, never thrown. */
  requestAll<T = unknown>(type: string, data?: unknown, timeoutMs?: number): Promise<WorkerAnswer<T>[]> {
    return Promise.all(
      this.slots.map((s) =>
        s.link.request<T>(type, data, timeoutMs).then(
          (d): WorkerAnswer<T> => ({ worker: s.index, pid: s.worker.process.pid!, ok: true, data: d }),
          (err): WorkerAnswer<T> => ({ worker: s.index, pid: s.worker.process.pid!, ok: false, error: describe(err) }),
        ),
      ),
    )
  }

  /** Every worker drains (its own graceful close) and exits; one that does not within the timeout is killed. */
  async stop(): Promise<void> {
    this.stopping = true
    const answers = await this.requestAll('shutdown', null, this.opts.stopTimeoutMs)
    for (const a of answers) if (!a.ok) this.opts.log.warn({ worker: a.worker, pid: a.pid, error: a.error }, 'worker did not drain in time; killing it')
    await Promise.all(
      this.slots.map(async (s, i) => {
        if (answers[i]!.ok && s.worker.isConnected()) s.worker.disconnect()
        else s.worker.process.kill('SIGKILL')
        const timer = setTimeout(() => s.worker.process.kill('SIGKILL'), EXIT_GRACE_MS)
        await s.exited
        clearTimeout(timer)
      }),
    )
  }

  private fork(index: number, respawns: number[]): Promise<void> {
    const env: Record<string, string> = { [WORKER_ENV]: String(index), [WORKERS_ENV]: String(this.opts.workers) }
    const udp = this.slots[index]?.address?.udp
    if (udp) env[WORKER_UDP_ENV] = `${udp.host.includes(':') ? `[${udp.host}]` : udp.host}:${udp.port}`
    const worker = cluster.fork(env)
    const link = new IpcLink((msg) => worker.send(msg), `worker ${index}`)
    for (const [type, fn] of this.handlers) link.handle(type, fn)
    link.onPub = (topic, data, from) => this.relay(topic, data, from)
    worker.on('message', (msg) => link.receive(msg))
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
    const slot: Slot = { index, worker, link, address: this.slots[index]?.address ?? null, exited, respawns }
    this.slots[index] = slot
    const pid = worker.process.pid
    return new Promise<void>((resolve, reject) => {
      let listening = false
      const timer = setTimeout(() => {
        worker.process.kill('SIGKILL')
        reject(new EnetError('ENET_ERR_CLUSTER', [`worker ${index}`, `not listening within ${this.opts.startTimeoutMs ?? 30_000} ms`]))
      }, this.opts.startTimeoutMs ?? 30_000)
      link.handle('ready', (address) => {
        slot.address = address as ServerAddress
        listening = true
        clearTimeout(timer)
        this.opts.log.info({ worker: index, pid, address }, 'worker listening')
        resolve()
        return true
      })
      worker.once('exit', (code, signal) => {
        clearTimeout(timer)
        link.close(`exited (code ${code}, signal ${signal})`)
        if (!listening) {
          reject(Object.assign(new EnetError('ENET_ERR_CLUSTER', [`worker ${index}`, `exited (code ${code}, signal ${signal}) before listening`]), { exitCode: code }))
          return
        }
        if (this.stopping) return
        this.respawn(slot, code, signal)
      })
    })
  }

  private respawn(slot: Slot, code: number | null, signal: string | null): void {
    const now = Date.now()
    const recent = slot.respawns.filter((t) => now - t < RESPAWN_WINDOW_MS)
    if (recent.length >= MAX_RESPAWNS) {
      this.opts.log.fatal({ worker: slot.index, code, signal, respawns: recent.length }, `worker ${slot.index} died ${MAX_RESPAWNS} times within ${RESPAWN_WINDOW_MS / 1000} s; stopping`)
      this.onFatal?.(new EnetError('ENET_ERR_CLUSTER', [`worker ${slot.index}`, 'keeps dying']))
      return
    }
    this.opts.log.error({ worker: slot.index, pid: slot.worker.process.pid, code, signal }, `worker ${slot.index} died; starting a new one`)
    this.fork(slot.index, [...recent, now]).catch((err) => {
      this.opts.log.fatal({ worker: slot.index, err }, `worker ${slot.index} could not be replaced; stopping`)
      this.onFatal?.(err as Error)
    })
  }

  private relay(topic: string, data: unknown, from: number): void {
    for (const s of this.slots) if (s.index !== from) s.link.publish(topic, data, from)
    for (const fn of this.topics.get(topic) ?? []) {
      try {
        fn(data, from)
      } catch (err) {
        this.opts.log.error({ err, topic }, 'cluster subscriber threw')
      }
    }
  }
}
