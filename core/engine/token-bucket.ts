// Token buckets, and a bounded map of them keyed by peer: the building blocks
// of every rate and byte budget a peer can run into.

export class TokenBucket {
  private tokens: number
  private at: number

  constructor(
    public perSec: number,
    public burst: number,
    now = performance.now(),
  ) {
    this.tokens = burst
    this.at = now
  }

  /** Take `n` tokens if there are that many; refills by elapsed time first. */
  take(n: number, now = performance.now()): boolean {
    // A caller's cached clock may be older than this bucket: never refill backwards.
    if (now < this.at) now = this.at
    // Credit above the burst is kept; only the refill stops at the burst.
    const t = this.tokens >= this.burst ? this.tokens : Math.min(this.burst, this.tokens + ((now - this.at) * this.perSec) / 1000)
    this.at = now
    if (t < n) {
      this.tokens = t
      return false
    }
    this.tokens = t - n
    return true
  }

  /** New rates; tokens above the new burst are dropped. */
  set(perSec: number, burst: number): void {
    this.perSec = perSec
    this.burst = burst
    this.tokens = Math.min(this.tokens, burst)
  }

  /** Add tokens beyond the refill (e.g. credit earned by received bytes), up to `cap`. */
  credit(n: number, cap: number): void {
    this.tokens = Math.min(Math.max(cap, this.burst), this.tokens + n)
  }
}

/**
 * Buckets per key (a source IP, a destination ip:port), at most `max` of them:
 * when full, the oldest key is forgotten. A forgotten key starts again with a
 * full burst, so the bound trades precision for memory, never safety: a
 * spoofer with more addresses than `max` gains at most one burst per address.
 */
export class BucketMap {
  private readonly map = new Map<string, TokenBucket>()

  constructor(
    private readonly make: () => TokenBucket,
    private readonly max: number,
  ) {}

  get(key: string, make: () => TokenBucket = this.make): TokenBucket {
    let b = this.map.get(key)
    if (b === undefined) {
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!)
      this.map.set(key, (b = make()))
    }
    return b
  }

  get size(): number {
    return this.map.size
  }

  clear(): void {
    this.map.clear()
  }
}
