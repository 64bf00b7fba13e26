// The primary's admin socket: `enet plugins`, `enet reload` and `enet status`
// ask every worker (each answers as a single server would) and show them all.
import type { AdminResponder } from '../admin.ts'
import type { ClusterPrimary, WorkerAnswer } from './primary.ts'

interface WorkerStatus {
  address?: unknown
  connections: number
  counters: Record<string, number>
  plugins: Record<string, unknown>
}

export function clusterAdmin(primary: ClusterPrimary): AdminResponder {
  return async (req) => {
    const answers = (await primary.requestAll<Record<string, unknown>>('admin', req)) as WorkerAnswer<Record<string, unknown>>[]
    if (req.cmd === 'status') {
      const workers = answers.map((a) => (a.ok ? { worker: a.worker, pid: a.pid, ...strip(a.data) } : { worker: a.worker, pid: a.pid, error: a.error }))
      const counters: Record<string, number> = {}
      let connections = 0
      for (const w of workers as Array<Partial<WorkerStatus>>) {
        connections += w.connections ?? 0
        for (const [k, v] of Object.entries(w.counters ?? {})) counters[k] = (counters[k] ?? 0) + v
      }
      return { ok: true, address: primary.address(), connections, counters, workers }
    }
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
