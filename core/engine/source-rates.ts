// Per-source request rates for the msgIds that declare one (a route's
// `rate`, a plugin's `rateLimits`, or udp.rateLimits in the config). Keyed
// by source (IPv4 address or IPv6 /64, source.ts) and msgId, so one source
// holds at most one bucket per rated msgId, whatever it rotates; shared by
// UDP and, for rates marked `tcp`, by TCP, so the two add up to one budget.
import type { RateLimit } from '../types.ts'
import { sourceOf } from './source.ts'
import { BucketMap, TokenBucket } from './token-bucket.ts'

/**
 * The rate in force for `msgId`: `udp.rateLimits` in the config over what
 * the route declares; `false` there lifts it. Null: no rate.
 */
export function rateInForce(overrides: Record<string, RateLimit | false>, msgId: number, declared: RateLimit | null | undefined): RateLimit | null {
  const override = overrides[msgId]
  if (override === false) return null
  return override ?? declared ?? null
}

/** (source, msgId) buckets kept at most; beyond it the oldest is forgotten (BucketMap). */
export const MAX_RATE_KEYS = 100_000

export class SourceRates {
  private readonly buckets = new BucketMap(() => new TokenBucket(1, 1), MAX_RATE_KEYS)

  /** One request of `msgId` from `address` under `rate`: false when that source is over it. */
  allow(address: string, msgId: number, rate: RateLimit, now = performance.now()): boolean {
    return this.buckets.get(`${sourceOf(address)}|${msgId}`, () => new TokenBucket(rate.perSec, rate.burst, now)).take(1, now)
  }

  get size(): number {
    return this.buckets.size
  }

  /** Rates changed: every source starts afresh under them. */
  clear(): void {
    this.buckets.clear()
  }
}
