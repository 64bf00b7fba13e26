// What heartbeat shows an operator: registry metrics, read from the state's
// counters at scrape time, and the live nodes as a table for enet status,
// GET /status and the dashboard.
import type { PluginContext } from '@enetjs/enet'
import type { Registry } from './registry.ts'

export function observe(ctx: PluginContext, registry: Registry): void {
  const stats = registry.state.stats
  ctx.metrics.gauge({ name: 'nodes', help: 'Live nodes in the registry.', collect: () => registry.size })
  ctx.metrics.counter({
    name: 'beats_total',
    help: 'Heartbeats (msgId 10) by result: registered (a new node), refreshed, refused (maxNodes live), bad (not host:port).',
    labelNames: ['result'],
    collect: () => [
      { labels: { result: 'registered' }, value: stats.registered },
      { labels: { result: 'refreshed' }, value: stats.refreshed },
      { labels: { result: 'refused' }, value: stats.refused },
      { labels: { result: 'bad' }, value: stats.bad },
    ],
  })
  ctx.metrics.counter({ name: 'nodes_expired_total', help: 'Nodes dropped after a TTL of silence.', collect: () => stats.expired })
  ctx.metrics.counter({
    name: 'auth_failures_total',
    help: 'Heartbeats dropped by node authentication, by reason.',
    labelNames: ['reason'],
    collect: () => Object.entries(stats.authFailed).map(([reason, value]) => ({ labels: { reason }, value })),
  })
  ctx.report(() => {
    const now = Date.now()
    return {
      nodes: registry.nodes().map((n) => ({
        node: n.node,
        source: `${n.from.protocol} ${n.from.address.includes(':') ? `[${n.from.address}]` : n.from.address}:${n.from.port}`,
        ageMs: now - n.firstSeen,
        lastBeatMs: now - n.lastSeen,
        expiresInMs: n.expiresInMs,
      })),
    }
  })
}
