// The worker side of `enet start --workers N`: one IpcLink to the primary,
// and the ClusterBus that plugins see as ctx.server.cluster.
import type { ClusterBus } from '../../types.ts'
import { IpcLink, type Envelope } from './link.ts'

/** Set by the primary for each worker it forks. */
export const WORKER_ENV = 'ENET_WORKER'
export const WORKERS_ENV = 'ENET_WORKERS'

export interface WorkerSide {
  readonly link: IpcLink
  readonly bus: ClusterBus
}

/** The worker's index and count when this process is a worker forked by `enet start --workers`, else null. */
export function workerIdentity(env: NodeJS.ProcessEnv = process.env): { worker: number; workers: number } | null {
  if (typeof process.send !== 'function' || env[WORKER_ENV] === undefined) return null
  const worker = Number(env[WORKER_ENV])
  const workers = Number(env[WORKERS_ENV])
  return Number.isInteger(worker) && Number.isInteger(workers) && worker >= 0 && worker < workers ? { worker, workers } : null
}

export function connectToPrimary(id: { worker: number; workers: number }): WorkerSide {
  const link = new IpcLink((msg: Envelope) => process.send!(msg), 'primary')
  const topics = new Map<string, Set<(data: unknown, from: number) => void>>()
  link.onPub = (topic, data, from) => {
    for (const fn of topics.get(topic) ?? []) {
      try {
        fn(data, from)
      } catch {
        // A subscriber's throw is its own; the other subscribers still hear the message.
      }
    }
  }
  process.on('message', (msg) => link.receive(msg))
  process.on('disconnect', () => link.close('the primary is gone'))
  const bus: ClusterBus = {
    worker: id.worker,
    workers: id.workers,
    publish: (topic, data) => link.publish(topic, data, id.worker),
    subscribe(topic, fn, opts = {}) {
      if (opts.signal?.aborted) return () => {}
      let set = topics.get(topic)
      if (set === undefined) topics.set(topic, (set = new Set()))
      set.add(fn)
      const off = () => {
        set.delete(fn)
        if (set.size === 0 && topics.get(topic) === set) topics.delete(topic)
        opts.signal?.removeEventListener('abort', off)
      }
      opts.signal?.addEventListener('abort', off, { once: true })
      return off
    },
  }
  return { link, bus }
}
