// GET /metrics, /status and the dashboard under `enet start --workers N`.
// The primary alone listens (the workers' listeners would share the port
// and each scrape would reach one worker at random); it asks every worker
// over IPC and answers for all of them: metrics aggregated by prom-client's
// AggregatorRegistry (counters summed, per each metric's aggregator), status
// summed as `enet status` shows it, the feed's totals added up.
import type { Logger } from 'pino'
import { AggregatorRegistry, Gauge } from 'prom-client'
import { Feed, sumTotals, type Totals } from '../http/feed.ts'
import { HttpListener, type HttpOptions } from '../http/listener.ts'
import type { Status } from '../status.ts'
import { clusterStatus } from './admin.ts'
import type { ClusterPrimary } from './primary.ts'

type MetricsJson = Parameters<typeof AggregatorRegistry.aggregate>[0][number]

export interface ClusterHttp {
  readonly address: { host: string; port: number }
  close(): Promise<void>
}

export async function openClusterHttp(primary: ClusterPrimary, opts: HttpOptions, log: Logger): Promise<ClusterHttp> {
  let address: { host: string; port: number } | undefined
  const status = async () => clusterStatus(primary, await primary.requestAll<Record<string, unknown>>('admin', { cmd: 'status' }), address) as Status
  const read = async () => {
    const answers = await primary.requestAll<{ status: Record<string, unknown>; totals: Totals } | null>('feed')
    const statuses = answers.map((a) => ({ ...a, data: a.data?.status }))
    const totals = answers.flatMap((a) => (a.ok && a.data ? [a.data.totals] : []))
    return { status: clusterStatus(primary, statuses, address) as Status, totals: sumTotals(totals) }
  }
  const feed = new Feed({ read }, log)
  const listener = new HttpListener(opts, {
    log,
    status,
    feed,
    metrics: async () => {
      const answers = await primary.requestAll<MetricsJson>('metrics')
      const registry = AggregatorRegistry.aggregate(answers.flatMap((a) => (a.ok && a.data ? [a.data] : [])))
      const up = new Gauge({ name: 'enet_workers_up', help: 'Workers that answered this scrape (their metrics are summed above).', registers: [registry] })
      up.set(answers.filter((a) => a.ok).length)
      for (const a of answers) if (!a.ok) log.warn({ worker: a.worker, error: a.error }, 'metrics: a worker did not answer the scrape')
      return { text: await registry.metrics(), contentType: registry.contentType }
    },
  })
  address = await listener.listen()
  log.info({ http: address }, 'http listening')
  return {
    address,
    async close() {
      feed.close()
      await listener.close()
    },
  }
}
