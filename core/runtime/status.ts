// One snapshot of a running server: what `enet status` prints, what GET
// /status answers and what the dashboard draws. Everything in it is read
// when asked; nothing is kept for it.
import type { Server } from '../engine/server.ts'
import type { PluginHost, PluginInfo, ReloadRecord } from './plugin/host.ts'
import type { ServerAddress } from '../types.ts'

export interface PluginStatus {
  version: number
  status: PluginInfo['status']
  routes: number[]
  lastReload: ReloadRecord | null
  lastError: string | null
  /** The last loads, reloads and failures, oldest first. */
  reloads: ReloadRecord[]
  /** What the plugin's API returns from stats(), if it has one. */
  stats?: unknown
  /** What the serving version gave ctx.report(). */
  report?: unknown
}

export interface Status {
  name: string
  pid: number
  uptimeSeconds: number
  address: ServerAddress & { http?: { host: string; port: number } }
  connections: number
  connectionsByProtocol: { tcp: number; udp: number; [protocol: string]: number }
  counters: Record<string, number>
  traffic: ReturnType<Server['traffic']>
  limits: Server['config']['limits'] & { udp: Omit<Server['config']['udp'], 'codec' | 'enabled' | 'host' | 'port'> }
  plugins: Record<string, PluginStatus>
  /** Bytes held by queued requests across all connections (limits.maxInboundTotalBytes). */
  queuedBytes: number
  /** Plugins whose code has faulted, and what the supervisor made of them. */
  faults: Array<Pick<PluginInfo, 'name' | 'status' | 'version' | 'faults' | 'restarts' | 'lastFault'>>
}

const started = Date.now()

/** Live connections per protocol, counted when asked; tcp and udp always present. */
export function connectionsByProtocol(connections: Iterable<{ protocol: string }>): Status['connectionsByProtocol'] {
  const out: Status['connectionsByProtocol'] = { tcp: 0, udp: 0 }
  for (const c of connections) out[c.protocol] = (out[c.protocol] ?? 0) + 1
  return out
}

export function statusSnapshot(server: Server, plugins: PluginHost | null, http?: { host: string; port: number }): Status {
  const { udp, limits } = server.config
  const { codec: _c, enabled: _e, host: _h, port: _p, ...udpLimits } = udp
  const m = server.manager
  return {
    name: server.config.name,
    pid: process.pid,
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    address: { ...server.address(), ...(http ? { http } : {}) },
    connections: m.size,
    connectionsByProtocol: connectionsByProtocol(m),
    counters: { ...server.counters },
    traffic: server.traffic(),
    limits: { ...limits, udp: udpLimits },
    plugins: plugins ? pluginStatus(plugins) : {},
    queuedBytes: server.dispatcher.queuedBytes,
    faults: (plugins?.list() ?? []).filter((p) => p.faults > 0).map(({ name, status, version, faults, restarts, lastFault }) => ({ name, status, version, faults, restarts, lastFault })),
  }
}

function pluginStatus(host: PluginHost): Record<string, PluginStatus> {
  const serving = new Map(host.serving().map((v) => [v.name, v]))
  const out: Record<string, PluginStatus> = {}
  for (const p of host.list()) {
    const entry: PluginStatus = { version: p.version, status: p.status, routes: p.routes, lastReload: p.lastReload, lastError: p.lastError, reloads: host.history(p.name) }
    const api = host.api<{ stats?: unknown }>(p.name)
    if (api && typeof api.stats === 'function') entry.stats = jsonSafe(() => (api.stats as () => unknown)(), 'stats()')
    const report = serving.get(p.name)?.observed.report
    if (report) entry.report = jsonSafe(report, 'report')
    out[p.name] = entry
  }
  return out
}

/** Through JSON here, so one plugin's BigInt, cycle or throw spoils only its own entry. */
function jsonSafe(fn: () => unknown, what: string): unknown {
  try {
    return JSON.parse(JSON.stringify(fn()) ?? 'null')
  } catch (err) {
    return { error: `${what} failed: ${(err as Error).message}` }
  }
}
