// GET /metrics: one prom-client Registry per server. Almost everything is
// read at scrape time (collect callbacks) from what the server already keeps:
// server.counters, the connection manager, socket byte counts, the plugin
// host. Only requests are counted as they happen (RequestStats).
import { Counter, Histogram, Registry } from 'prom-client'
import { TRAFFIC_PROTOCOLS, type Server } from '../../engine/server.ts'
import type { PluginHost } from '../plugin/host.ts'
import type { DeclaredMetric } from '../plugin/metrics.ts'
import { connectionsByProtocol } from '../status.ts'
import { processRegistry } from './process-metrics.ts'
import { DURATION_BUCKETS, type RequestStats } from './request-stats.ts'

/** What a Registry holds and renders (prom-client's own type for it is not exported). */
type Metric = ReturnType<Registry['getMetricsAsArray']>[number]
type Sample = { labels: Record<string, string | number>; value: number; metricName?: string }

/** A metric whose values are computed when scraped, in prom-client's own JSON shape (so AggregatorRegistry can sum it across workers). */
function computed(name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => Sample[], aggregator: 'sum' | 'max' = 'sum'): Metric {
  const shape = { name, help, type, aggregator }
  return { ...shape, get: async () => ({ ...shape, values: values() }), reset() {} } as unknown as Metric
}

/** counters keys `prefix.reason` → samples labelled { reason }. */
function byPrefix(counters: Record<string, number>, prefix: string): Sample[] {
  const out: Sample[] = []
  for (const [k, v] of Object.entries(counters)) if (k.startsWith(prefix)) out.push({ labels: { reason: k.slice(prefix.length) }, value: v })
  return out
}

/** Counter keys mapped to a metric of their own; any other (a counter added later) shows up as enet_server_events_total. */
const MAPPED = /^(drop\.|refused\.|closed\.|requests$|failed$|timedOut$|bailed$)/

export class ServerMetrics extends Registry {
  private readonly own: Metric[]
  private readonly pluginMetrics = new WeakMap<DeclaredMetric, Metric>()

  constructor(
    private readonly server: Server,
    private readonly stats: RequestStats,
    private readonly plugins: PluginHost | null,
  ) {
    super()
    const c = server.counters as Record<string, number>
    const reloads = new Counter({ name: 'enet_plugin_reloads_total', help: 'Plugin loads, reloads, unloads and failed attempts, by plugin and outcome.', labelNames: ['plugin', 'outcome'], registers: [] })
    const reloadSeconds = new Histogram({
      name: 'enet_plugin_reload_duration_seconds',
      help: 'Time from the start of a plugin load or reload to its swap (or its failure).',
      labelNames: ['plugin'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [],
    })
    server.hooks.onPluginEvent.tap('enet:metrics', (e) => {
      reloads.inc({ plugin: e.plugin, outcome: e.outcome })
      if (e.outcome !== 'unloaded') reloadSeconds.observe({ plugin: e.plugin }, e.ms / 1000)
    })
    this.own = [
      computed('enet_connections', 'Live connections (TCP sockets, UDP peer sessions) by protocol.', 'gauge', () => {
        return Object.entries(connectionsByProtocol(server.manager)).map(([protocol, value]) => ({ labels: { protocol }, value }))
      }),
      computed('enet_connections_opened_total', 'Connections started, by protocol.', 'counter', () =>
        Object.entries(stats.opened).map(([protocol, value]) => ({ labels: { protocol }, value })),
      ),
      computed('enet_connections_closed_total', 'Connections ended, by protocol and reason.', 'counter', () =>
        [...stats.closed].map(([key, value]) => {
          const [protocol, reason] = key.split(' ')
          return { labels: { protocol: protocol!, reason: reason! }, value }
        }),
      ),
      computed('enet_connections_refused_total', 'TCP connections refused at accept, by limit.', 'counter', () => byPrefix(c, 'refused.')),
      computed('enet_dropped_total', 'Frames and datagrams dropped, by reason.', 'counter', () => byPrefix(c, 'drop.')),
      computed('enet_messages_received_total', 'Frames and datagrams decoded and handed to dispatch (routed or not).', 'counter', () => [{ labels: {}, value: c.requests ?? 0 }]),
      computed('enet_requests_bailed_total', 'Requests stopped by a beforeHandle tap.', 'counter', () => [{ labels: {}, value: c.bailed ?? 0 }]),
      computed('enet_requests_total', 'Routed requests handled, by msgId and outcome (ok, error, timeout).', 'counter', () => {
        const out: Sample[] = []
        for (const [id, s] of stats.byMsgId) for (const outcome of ['ok', 'error', 'timeout'] as const) out.push({ labels: { msg_id: id, outcome }, value: s[outcome] })
        return out
      }),
      computed('enet_request_duration_seconds', 'Time from the start of a handler to its end, by msgId.', 'histogram', () => this.durations()),
      computed('enet_received_bytes_total', 'Bytes of enet frames received, frame headers included, by protocol (TLS records and WebSocket framing not counted).', 'counter', () => this.bytes('in')),
      computed('enet_sent_bytes_total', 'Bytes of enet frames sent, frame headers included, by protocol (TLS records and WebSocket framing not counted).', 'counter', () => this.bytes('out')),
      computed('enet_outbound_queued_bytes', 'Bytes written to TCP, TLS and WebSocket connections and not yet taken by the peer.', 'gauge', () => [{ labels: {}, value: server.traffic().outboundQueued }]),
      computed('enet_server_events_total', 'Other server counters, by name.', 'counter', () =>
        Object.entries(c)
          .filter(([k]) => !MAPPED.test(k))
          .map(([counter, value]) => ({ labels: { counter }, value })),
      ),
      reloads as unknown as Metric,
      reloadSeconds as unknown as Metric,
      computed('enet_plugin_faults_total', "Faults of a plugin's code outside any request (the supervisor's count), by plugin.", 'counter', () =>
        (plugins?.list() ?? []).map((p) => ({ labels: { plugin: p.name }, value: p.faults })),
      ),
      computed('enet_plugin_restarts_total', 'Restarts the supervisor made of a faulting plugin, by plugin.', 'counter', () =>
        (plugins?.list() ?? []).map((p) => ({ labels: { plugin: p.name }, value: p.restarts })),
      ),
      computed(
        'enet_plugin_version',
        'The version number of the plugin serving now (1 for the first load, +1 per reload); 0 while none serves.',
        'gauge',
        () => (plugins?.list() ?? []).map((p) => ({ labels: { plugin: p.name }, value: p.version })),
        'max',
      ),
    ]
  }

  private bytes(dir: 'in' | 'out'): Sample[] {
    const t = this.server.traffic()
    return TRAFFIC_PROTOCOLS.map((protocol) => ({ labels: { protocol }, value: t[protocol][dir] }))
  }

  private durations(): Sample[] {
    const name = 'enet_request_duration_seconds'
    const out: Sample[] = []
    for (const [id, s] of this.stats.byMsgId) {
      let cumulative = 0
      DURATION_BUCKETS.forEach((le, i) => {
        cumulative += s.buckets[i]!
        out.push({ metricName: `${name}_bucket`, labels: { msg_id: id, le }, value: cumulative })
      })
      cumulative += s.buckets[DURATION_BUCKETS.length]!
      out.push({ metricName: `${name}_bucket`, labels: { msg_id: id, le: '+Inf' }, value: cumulative })
      out.push({ metricName: `${name}_sum`, labels: { msg_id: id }, value: s.sumSeconds })
      out.push({ metricName: `${name}_count`, labels: { msg_id: id }, value: cumulative })
    }
    return out
  }

  /** The server's metrics, then what serving plugin versions declare, then the process's default metrics. */
  override getMetricsAsArray(): Metric[] {
    const declared = (this.plugins?.serving() ?? []).flatMap((v) => v.observed.metrics.map((d) => this.pluginMetric(v.name, d)))
    return [...this.own, ...declared, ...processRegistry().getMetricsAsArray()]
  }

  /** A plugin's declaration as a prom-client object, made on its first scrape; a collect() that throws empties only that metric. */
  private pluginMetric(plugin: string, d: DeclaredMetric): Metric {
    let m = this.pluginMetrics.get(d)
    if (m) return m
    const log = this.server.log
    m = computed(d.fullName, d.help, d.type, () => {
      try {
        const v = d.collect()
        const samples = typeof v === 'number' ? [{ value: v }] : v
        return samples.map((s) => ({ labels: { ...s.labels }, value: s.value }))
      } catch (err) {
        log.warn({ err, plugin, metric: d.fullName }, `plugin ${plugin}: metric ${d.fullName} collect() threw`)
        return []
      }
    })
    this.pluginMetrics.set(d, m)
    return m
  }
}
