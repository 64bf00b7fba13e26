// What the locator shows an operator: locates by outcome and the fan-out it
// cost, read from its state's counters at scrape time.
import type { PluginContext } from '@enetjs/enet'
import type { LocatorState } from './lookups.ts'

export function observe(ctx: PluginContext, state: LocatorState): void {
  const stats = state.stats
  ctx.metrics.counter({
    name: 'locates_total',
    help: 'Locate requests (msgId 20) by outcome: found, not_found (timeout or nobody live), busy (maxPending names waiting), bad (not a resource name).',
    labelNames: ['outcome'],
    collect: () => [
      { labels: { outcome: 'found' }, value: stats.found },
      { labels: { outcome: 'not_found' }, value: stats.notFound },
      { labels: { outcome: 'busy' }, value: stats.busy },
      { labels: { outcome: 'bad' }, value: stats.bad },
    ],
  })
  ctx.metrics.counter({ name: 'queries_total', help: 'Queries sent to nodes (one per live node per wave).', collect: () => stats.queries })
  ctx.metrics.counter({
    name: 'answers_dropped_total',
    help: 'Node answers (msgId 21) dropped, by reason.',
    labelNames: ['reason'],
    collect: () => [
      { labels: { reason: 'malformed' }, value: stats.malformed },
      { labels: { reason: 'late' }, value: stats.late },
      { labels: { reason: 'not_live' }, value: stats.notLive },
      ...Object.entries(stats.authFailed).map(([reason, value]) => ({ labels: { reason: `auth_${reason.replace(/-/g, '_')}` }, value })),
    ],
  })
  ctx.metrics.gauge({ name: 'pending', help: 'Resource names waiting for an answer.', collect: () => state.pending.size })
}
