// Token buckets per source IP, bounded, plus one for everyone: a peer that
// floods us (or spoofs a thousand UDP source addresses) cannot turn its
// packets into log lines faster than `global.perSecond`.
export interface BucketOptions {
  burst: number
  perSecond: number
  maxSources: number
  globalBurst: number
  globalPerSecond: number
}

interface Bucket {
  tokens: number
  at: number
}

export class SourceBuckets {
  private readonly sources = new Map<string, Bucket>()
  private readonly global: Bucket
  /** Lines held back since the last call to takeSuppressed(). */
  suppressed = 0

  constructor(private readonly o: BucketOptions) {
    this.global = { tokens: o.globalBurst, at: performance.now() }
  }

  get size(): number {
    return this.sources.size
  }

  /** One line for `source`: true if it may be written. */
  take(source: string): boolean {
    const now = performance.now()
    let b = this.sources.get(source)
    if (b === undefined) {
      // Oldest first: Map keeps insertion order, so the first key is the least recently added.
      if (this.sources.size >= this.o.maxSources) this.sources.delete(this.sources.keys().next().value!)
      b = { tokens: this.o.burst, at: now }
      this.sources.set(source, b)
    }
    if (!spend(b, now, this.o.burst, this.o.perSecond) || !spend(this.global, now, this.o.globalBurst, this.o.globalPerSecond)) {
      this.suppressed++
      return false
    }
    return true
  }

  takeSuppressed(): number {
    const n = this.suppressed
    this.suppressed = 0
    return n
  }
}

function spend(b: Bucket, now: number, burst: number, perSecond: number): boolean {
  b.tokens = Math.min(burst, b.tokens + ((now - b.at) * perSecond) / 1000)
  b.at = now
  if (b.tokens < 1) return false
  b.tokens -= 1
  return true
}
