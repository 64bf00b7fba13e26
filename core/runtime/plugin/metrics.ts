// What a plugin version declares for observation: metrics read at scrape time
// and a report read by enet status / GET /status. Plain data here; the
// metrics layer turns it into prom-client objects only when someone scrapes,
// so a server without the HTTP listener never loads prom-client for it.
import { EnetError } from '../../errors.ts'
import type { PluginMetricDefinition, PluginMetrics } from '../../types.ts'

export interface DeclaredMetric extends PluginMetricDefinition {
  readonly type: 'gauge' | 'counter'
  /** `enet_<plugin>_<name>`. */
  readonly fullName: string
}

const NAME = /^[a-z][a-z0-9_]*$/
const LABEL = /^[a-z_][a-z0-9_]*$/

/** A plugin name as it appears in metric names: `my-plugin` → `my_plugin`. */
export const metricPrefix = (plugin: string) => `enet_${plugin.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_`

export class VersionObservables {
  readonly metrics: DeclaredMetric[] = []
  report: (() => Record<string, unknown>) | null = null

  constructor(private readonly plugin: string) {}

  view(): PluginMetrics {
    return Object.freeze({
      gauge: (def: PluginMetricDefinition) => this.declare('gauge', def),
      counter: (def: PluginMetricDefinition) => this.declare('counter', def),
    })
  }

  setReport(fn: () => Record<string, unknown>): void {
    if (typeof fn !== 'function') throw new TypeError(`plugin ${this.plugin}: ctx.report() needs a function`)
    this.report = fn
  }

  private declare(type: DeclaredMetric['type'], def: PluginMetricDefinition): void {
    const name = def?.name
    const bad = (why: string) => new EnetError('ENET_ERR_PLUGIN_METRIC', [this.plugin, JSON.stringify(name), why])
    if (typeof name !== 'string' || !NAME.test(name)) throw bad('expected a snake_case name ([a-z][a-z0-9_]*)')
    if (type === 'counter' && !name.endsWith('_total')) throw bad('a counter name ends in _total (Prometheus naming)')
    if (type === 'gauge' && name.endsWith('_total')) throw bad('_total is for counters')
    if (typeof def.help !== 'string' || def.help === '') throw bad('expected a help text')
    if (typeof def.collect !== 'function') throw bad('expected a collect() function')
    for (const l of def.labelNames ?? []) if (!LABEL.test(l) || l === 'le') throw bad(`bad label name ${JSON.stringify(l)}`)
    if (this.metrics.some((m) => m.name === name)) throw bad('declared twice')
    this.metrics.push({ ...def, labelNames: [...(def.labelNames ?? [])], type, fullName: metricPrefix(this.plugin) + name })
  }
}
