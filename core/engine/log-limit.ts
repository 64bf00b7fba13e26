// Logging of peer-caused events, bounded: a hostile peer can make us drop a
// million frames a second, but not write a million log lines. The core and
// the bundled plugins share it (plugins get it from 'enet').
//
// The budget is per reason and per source IP, taken from the line's `remote`
// (or `from`) field, so one flooding peer spends its own lines and not those
// of everybody else with the same reason. A line without a source shares one
// budget per reason, as before.
import type { Logger } from 'pino'
import { sourceOf } from './source.ts'

/**
 * (reason, source) pairs tracked in one window; beyond it the oldest is
 * forgotten. A spoofing peer rotating source IPs could otherwise grow the map
 * without bound. A forgotten pair that comes back gets a fresh budget, which
 * the per-reason cap below still bounds.
 */
export const MAX_KEYS = 4_096

/**
 * Lines one reason may write per window, over all its sources, in units of
 * the per-source budget: 20 sources' worth. Without it a peer spoofing many
 * source IPs would write perKeyPerSecond lines for each of them.
 */
export const SOURCES_PER_REASON = 20

const WINDOW_MS = 1_000

export class RateLimitedLog {
  private windowStart: number
  /** Lines asked for per key (`reason`, or `reason` \n source IP) in this window. */
  private readonly seen = new Map<string, number>()
  /** Lines written per reason in this window. Reasons are strings from code, not addresses: no bound needed. */
  private readonly written = new Map<string, number>()
  private readonly suppressedBy = new Map<string, number>()
  private suppressed = 0

  constructor(
    private readonly log: () => Logger,
    private readonly perKeyPerSecond = 5,
    /** Milliseconds, monotonic; tests pass a fake clock. */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.windowStart = now()
  }

  warn(key: string, obj: object, msg: string): void {
    if (this.allow(key, lineSource(obj))) this.log().warn(obj, msg)
  }

  error(key: string, obj: object, msg: string): void {
    if (this.allow(key, lineSource(obj))) this.log().error(obj, msg)
  }

  info(key: string, obj: object, msg: string): void {
    if (this.allow(key, lineSource(obj))) this.log().info(obj, msg)
  }

  /** (reason, source) keys tracked in the current window; at most MAX_KEYS. */
  get tracked(): number {
    return this.seen.size
  }

  private allow(reason: string, source: string | undefined): boolean {
    const now = this.now()
    if (now - this.windowStart >= WINDOW_MS) this.roll(now)
    const key = source === undefined ? reason : `${reason}\n${source}`
    let n = this.seen.get(key)
    if (n === undefined) {
      if (this.seen.size >= MAX_KEYS) this.seen.delete(this.seen.keys().next().value!)
      n = 0
    }
    this.seen.set(key, ++n)
    const w = this.written.get(reason) ?? 0
    if (n <= this.perKeyPerSecond && w < this.perKeyPerSecond * SOURCES_PER_REASON) {
      this.written.set(reason, w + 1)
      return true
    }
    this.suppressed++
    this.suppressedBy.set(reason, (this.suppressedBy.get(reason) ?? 0) + 1)
    return false
  }

  /** The count of what the last window suppressed is written when the next line is asked for. */
  private roll(now: number): void {
    if (this.suppressed > 0) {
      const reasons = Object.fromEntries(this.suppressedBy)
      this.log().warn({ suppressed: this.suppressed, reasons, sources: this.seen.size }, 'log lines suppressed by rate limit in the last second')
    }
    this.windowStart = now
    this.seen.clear()
    this.written.clear()
    this.suppressedBy.clear()
    this.suppressed = 0
  }
}

/**
 * The source (IPv4 address or IPv6 /64, source.ts) of a line's `remote` or
 * `from` field (`ip:port`, `[v6]:port`, `udp://ip:port`), or undefined: a
 * host rotating through its /64 spends one budget, and holds one key per reason.
 */
function lineSource(obj: object): string | undefined {
  const o = obj as { remote?: unknown; from?: unknown }
  const addr = typeof o.remote === 'string' ? o.remote : typeof o.from === 'string' ? o.from : undefined
  return addr === undefined ? undefined : sourceOf(ipOf(addr))
}

/** `ip:port` → `ip`. The port follows the last colon, IPv6 included (callers write `${address}:${port}`). */
export function ipOf(addr: string): string {
  const scheme = addr.indexOf('://')
  let s = scheme < 0 ? addr : addr.slice(scheme + 3)
  const colon = s.lastIndexOf(':')
  if (colon > 0 && /^\d{1,5}$/.test(s.slice(colon + 1))) s = s.slice(0, colon)
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1)
  return s
}

/** A rate-limited view of a logger (5 lines per reason and source IP per second). */
export function rateLimited(log: Logger, perKeyPerSecond = 5, now?: () => number): RateLimitedLog {
  return new RateLimitedLog(() => log, perKeyPerSecond, now)
}
