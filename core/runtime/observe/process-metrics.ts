// Node's default metrics (event-loop lag, heap, CPU, handles, fds) belong to
// the process, not to one server: prom-client's collectors start an
// event-loop monitor that is never stopped, so they are made once per
// process, on the first scrape, and shared.
import { createRequire } from 'node:module'
import { Registry, collectDefaultMetrics } from 'prom-client'

type Collector = (registry: Registry, config: { eventLoopMonitoringPrecision: number }) => void

/**
 * Left out: nodejs_gc_duration_seconds. Its PerformanceObserver runs on every
 * garbage collection, and a busy server collects its young generation
 * hundreds of times a second: it cost 8 % of a request's CPU in a
 * measurement (bench/inject, 1M requests). collectDefaultMetrics() cannot
 * leave one out, so the others are started one by one, from prom-client's
 * own files, by the names it lists.
 */
const LEFT_OUT = new Set(['gc'])

let registry: Registry | null = null

export function processRegistry(): Registry {
  if (registry === null) {
    const r = new Registry()
    const require = createRequire(import.meta.url)
    // Standard names (process_*, nodejs_*), unprefixed: the dashboards and
    // alerts written for every Node service read them by these names.
    for (const name of collectDefaultMetrics.metricsList) {
      if (!LEFT_OUT.has(name)) (require(`prom-client/lib/metrics/${name}`) as Collector)(r, { eventLoopMonitoringPrecision: 10 })
    }
    registry = r
  }
  return registry
}
