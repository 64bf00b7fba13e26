// Logging of peer-caused events, bounded: a hostile peer can make us drop a
// million frames a second, but not write a million log lines. The core and
// the bundled plugins share it (plugins get it from 'enet').
import type { Logger } from 'pino'

export class RateLimitedLog {
  private windowStart = 0
  private readonly seen = new Map<string, number>()
  private suppressed = 0

  constructor(
    private readonly log: () => Logger,
    private readonly perKeyPerSecond = 5,
  ) {}

  warn(key: string, obj: object, msg: string): void {
    if (this.allow(key)) this.log().warn(obj, msg)
  }

  info(key: string, obj: object, msg: string): void {
    if (this.allow(key)) this.log().info(obj, msg)
  }

  private allow(key: string): boolean {
    const now = Date.now()
    if (now - this.windowStart >= 1000) {
      if (this.suppressed > 0) this.log().warn({ suppressed: this.suppressed }, 'log lines suppressed by rate limit in the last second')
      this.windowStart = now
      this.seen.clear()
      this.suppressed = 0
    }
    const n = (this.seen.get(key) ?? 0) + 1
    // The map is cleared every second, so its size is bounded by keys per second;
    // keys are reasons, not addresses, so a spoofing peer cannot grow it.
    this.seen.set(key, n)
    if (n <= this.perKeyPerSecond) return true
    this.suppressed++
    return false
  }
}

/** A rate-limited view of a logger (5 lines per key per second). */
export function rateLimited(log: Logger, perKeyPerSecond = 5): RateLimitedLog {
  return new RateLimitedLog(() => log, perKeyPerSecond)
}
