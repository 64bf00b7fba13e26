// Log lines caused by peers, bounded: at most `perSecond` lines per key per
// second, and one summary line for what was held back. Keys are reasons, never
// addresses, so a peer cannot grow the map.
import type { Logger } from 'pino'

export interface Throttle {
  warn(key: string, obj: object, msg: string): void
  info(key: string, obj: object, msg: string): void
}

export function throttle(log: Logger, perSecond = 5): Throttle {
  let windowStart = 0
  let suppressed = 0
  const seen = new Map<string, number>()
  const allow = (key: string): boolean => {
    const now = Date.now()
    if (now - windowStart >= 1000) {
      if (suppressed > 0) log.warn({ suppressed }, 'log lines suppressed by rate limit in the last second')
      windowStart = now
      suppressed = 0
      seen.clear()
    }
    const n = (seen.get(key) ?? 0) + 1
    seen.set(key, n)
    if (n <= perSecond) return true
    suppressed++
    return false
  }
  return {
    warn: (key, obj, msg) => void (allow(key) && log.warn(obj, msg)),
    info: (key, obj, msg) => void (allow(key) && log.info(obj, msg)),
  }
}
