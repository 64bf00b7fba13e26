// Metrics, status and the live feed of one server, and the HTTP listener
// that serves them. Made only when `http` is configured: without it no tap is
// added and prom-client is never loaded.
import { TRAFFIC_PROTOCOLS, type Server } from '../../engine/server.ts'
import { HttpListener, type HttpOptions } from '../http/listener.ts'
import { Feed, type Totals } from '../http/feed.ts'
import type { PluginHost } from '../plugin/host.ts'
import { statusSnapshot, type Status } from '../status.ts'
import { ServerMetrics } from './metrics.ts'
import { RequestStats } from './request-stats.ts'

export class Observatory {
  readonly stats: RequestStats
  readonly metrics: ServerMetrics
  /**
   * The dashboard's sampler, made when this server's own listener opens. A
   * worker of --workers has none: the primary's feed asks it for totals() and
   * status() each second, so a sampler here would snapshot for nobody.
   */
  feed: Feed | null = null
  private listener: HttpListener | null = null
  private bound: { host: string; port: number } | undefined = undefined

  constructor(
    readonly server: Server,
    readonly plugins: PluginHost | null = null,
  ) {
    this.stats = new RequestStats(server)
    this.metrics = new ServerMetrics(server, this.stats, plugins)
    server.hooks.onPluginEvent.tap('enet:feed', () => this.feed?.poke())
  }

  /** What the dashboard's samples are differences of; under --workers the primary adds up every worker's. */
  totals(): Totals {
    const c = this.server.counters as Record<string, number>
    const t = this.server.traffic()
    const drops: Record<string, number> = {}
    for (const [k, v] of Object.entries(c)) if (k.startsWith('drop.')) drops[k.slice(5)] = v
    const r = this.stats.totals()
    let bytesIn = 0
    let bytesOut = 0
    for (const p of TRAFFIC_PROTOCOLS) {
      bytesIn += t[p].in
      bytesOut += t[p].out
    }
    return { messages: c.requests ?? 0, failed: r.failed, buckets: [...r.buckets], drops, bytesIn, bytesOut }
  }

  status(): Status {
    return statusSnapshot(this.server, this.plugins, this.bound)
  }

  /** Where the listener is bound, once listening. */
  address(): { host: string; port: number } | undefined {
    return this.bound
  }

  async listen(opts: HttpOptions): Promise<{ host: string; port: number }> {
    const feed = (this.feed = new Feed({ read: async () => ({ status: this.status(), totals: this.totals() }) }, this.server.log))
    this.listener = new HttpListener(opts, {
      log: this.server.log,
      metrics: async () => ({ text: await this.metrics.metrics(), contentType: this.metrics.contentType }),
      status: () => this.status(),
      feed,
    })
    this.bound = await this.listener.listen()
    this.server.log.info({ http: this.bound }, 'http listening')
    return this.bound
  }

  async close(): Promise<void> {
    this.feed?.close()
    await this.listener?.close()
  }
}
