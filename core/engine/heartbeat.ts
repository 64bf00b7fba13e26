// The connection heartbeat checker (zinx znet/heartbeat.go, HeartBeatChecker).
// zinx runs a ticker goroutine per connection; here one timer sweeps every
// connection, and only connections silent for a whole interval cost anything
// (an entry in `silent`). A connection silent for intervalMs is pinged; each
// further interval of silence is another ping, and once `misses` pings went
// unanswered it is closed with reason not-alive, right after onRemoteNotAlive.
// Any inbound byte is life (transports stamp lastActive as bytes arrive), so
// the hot path pays nothing for this.
import type { EnetConfig } from '../config.ts'
import { callHook, type HookLog, type ServerHooks } from '../hooks.ts'
import { heartbeatData } from '../wire/heartbeat.ts'
import { clock, type BaseConnection } from './connection.ts'
import type { ConnectionManager } from './connection-manager.ts'
import type { RateLimitedLog } from './log-limit.ts'
import { compileRoute, type Router } from './router.ts'

export type HeartbeatConfig = Exclude<EnetConfig['heartbeat'], false | undefined>

export interface HeartbeatDeps {
  manager: ConnectionManager
  router: Router
  hooks: ServerHooks
  rlog: RateLimitedLog
  counters: { 'heartbeat.pings': number }
  log(): HookLog
}

/** Owner of the route that takes inbound pings; a user route on pingMsgId clashes with it by name. */
export const HEARTBEAT_OWNER = 'core:heartbeat'

interface Silence {
  /** conn.lastActive when this silence began; a new value means the peer spoke. */
  since: number
  pings: number
}

export class HeartbeatChecker {
  private cfg: HeartbeatConfig | undefined = undefined
  private timer: NodeJS.Timeout | null = null
  private running = false
  private readonly silent = new Map<BaseConnection, Silence>()

  constructor(private readonly deps: HeartbeatDeps) {}

  /**
   * Take a new config (false or undefined: off). Inbound frames on pingMsgId are
   * taken by a route of their own, as zinx's HeatBeatDefaultRouter does, so a
   * zinx peer's own heartbeats are not unknown msgIds. Throws, changing
   * nothing, when another owner routes pingMsgId.
   */
  apply(setting: HeartbeatConfig | false | undefined): void {
    const cfg = setting || undefined
    const routes = cfg ? [compileRoute(cfg.pingMsgId, { handle: pong, concurrent: true }, HEARTBEAT_OWNER)] : []
    this.deps.router.replace(HEARTBEAT_OWNER, routes)
    const period = this.cfg?.intervalMs
    this.cfg = cfg
    if (!cfg) this.silent.clear()
    if (this.running && period !== cfg?.intervalMs) this.schedule()
  }

  start(): void {
    this.running = true
    this.schedule()
  }

  stop(): void {
    this.running = false
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.silent.clear()
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    if (!this.cfg) return
    // A ping leaves within a quarter interval of the silence that earns it.
    const period = Math.min(1000, Math.max(10, Math.floor(this.cfg.intervalMs / 4)))
    this.timer = setInterval(() => this.sweep(clock()), period)
    this.timer.unref()
  }

  /** One pass over every connection, at `now` on conn.lastActive's clock (clock()); public so a test can drive it with its own clock. */
  sweep(now: number): void {
    const cfg = this.cfg
    if (!cfg) return
    const { intervalMs, misses, pingMsgId } = cfg
    for (const [conn, s] of this.silent) if (conn.closed || conn.lastActive !== s.since) this.silent.delete(conn)
    for (const conn of this.deps.manager) {
      // UDP sessions end by idle expiry; a ping to an unproven source address would be amplification.
      if (conn.protocol === 'udp' || now - conn.lastActive < intervalMs) continue
      let s = this.silent.get(conn)
      if (s === undefined) this.silent.set(conn, (s = { since: conn.lastActive, pings: 0 }))
      if (now - s.since < intervalMs * (s.pings + 1)) continue
      if (s.pings >= misses) {
        this.notAlive(conn, now - s.since, s.pings)
        continue
      }
      s.pings++
      this.deps.counters['heartbeat.pings']++
      conn.send(pingMsgId, heartbeatData(conn.local ?? { address: '0.0.0.0', port: 0 }, conn.remote))
    }
  }

  private notAlive(conn: BaseConnection, silentMs: number, pings: number): void {
    this.silent.delete(conn)
    this.deps.rlog.info('not-alive', { conn: conn.id, remote: `${conn.remote.address}:${conn.remote.port}`, silentMs, pings }, 'closing connection: not alive (heartbeat pings unanswered)')
    callHook(this.deps.hooks, 'onRemoteNotAlive', this.deps.log(), conn)
    conn.close('not-alive')
  }
}

/** A peer's ping or answer: its arrival already counted as life. */
function pong(): void {}
