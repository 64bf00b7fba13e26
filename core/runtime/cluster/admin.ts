// The primary's admin socket: `enet plugins`, `enet reload` and `enet status`
// ask every worker (each answers as a single server would) and show them all.
import { TRAFFIC_PROTOCOLS, type Traffic } from '../../engine/server.ts'
import type { AdminResponder } from '../admin.ts'
import type { Status } from '../status.ts'
import type { ClusterPrimary, WorkerAnswer } from './primary.ts'

type WorkerStatus = Partial<Status> & { worker: number; pid: number; error?: string }

export function clusterAdmin(primary: ClusterPrimary): AdminResponder {
  return async (req) => {
    const answers = (await primary.requestAll<Record<string, unknown>>('admin', req)) as WorkerAnswer<Record<string, unknown>>[]
    if (req.cmd === 'status') return { ok: true, ...clusterStatus(primary, answers) }
    // plugins and reload: one row per plugin per worker.
    const plugins = answers.flatMap((a) => {
      if (!a.ok) return [{ worker: a.worker, name: '-', dir: '', version: 0, status: 'unreachable', routes: [], taps: 0, inflight: 0, lastError: a.error }]
      const rows = req.cmd === 'plugins' ? (a.data!.plugins as object[]) : [a.data!.plugin as object]
      return rows.map((r) => ({ worker: a.worker, ...r }))
    })
    // A worker that did not answer is a row of its own (status unreachable), so the others still show.
    return { ok: true, plugins }
  }
}

function strip(data: Record<string, unknown> | undefined): Record<string, unknown> {
  const { ok: _ok, ...rest } = data ?? {}
  return rest
}

/**
 * Every worker's snapshot and their totals: connections, counters and bytes
 * summed; name, limits and plugins as the first worker that answered has
 * them (each worker loads the same plugins; its own row in `workers` says
 * where one differs).
 */
export function clusterStatus(primary: ClusterPrimary, answers: WorkerAnswer<Record<string, unknown>>[], http?: { host: string; port: number }): Partial<Status> & { workers: WorkerStatus[] } {
  const workers: WorkerStatus[] = answers.map((a) => (a.ok ? { worker: a.worker, pid: a.pid, ...strip(a.data) } : { worker: a.worker, pid: a.pid, error: a.error }))
  const counters: Record<string, number> = {}
  const byProtocol: Status['connectionsByProtocol'] = { tcp: 0, udp: 0 }
  const traffic: Traffic = { tcp: { in: 0, out: 0 }, udp: { in: 0, out: 0 }, ws: { in: 0, out: 0 }, tls: { in: 0, out: 0 }, outboundQueued: 0 }
  let connections = 0
  for (const w of workers) {
    connections += w.connections ?? 0
    for (const [p, n] of Object.entries(w.connectionsByProtocol ?? {})) byProtocol[p] = (byProtocol[p] ?? 0) + n
    for (const [k, v] of Object.entries(w.counters ?? {})) counters[k] = (counters[k] ?? 0) + v
    if (w.traffic) {
      for (const p of TRAFFIC_PROTOCOLS) for (const d of ['in', 'out'] as const) traffic[p][d] += w.traffic[p][d]
      traffic.outboundQueued += w.traffic.outboundQueued
    }
  }
  const first = workers.find((w) => w.error === undefined)
  return {
    ...(first && { name: first.name, limits: first.limits, plugins: first.plugins }),
    pid: process.pid,
    address: { ...primary.address(), ...(http && { http }) },
    connections,
    connectionsByProtocol: byProtocol,
    counters,
    traffic,
    workers,
  }
}
