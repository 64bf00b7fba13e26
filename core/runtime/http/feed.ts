// The dashboard's live feed (server-sent events). One sampler, once a second,
// keeps the last minutes of throughput, latency, connections and drops; each
// tick sends every subscriber the same status snapshot and the new sample.
// poke() sends a snapshot at once (a plugin event), so a reload shows without
// waiting. What it reads comes from a FeedSource: one server's, or under
// --workers the primary's sum over every worker.
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { Status } from '../status.ts'
import { quantile } from '../observe/request-stats.ts'

/** Samples kept: one a second, five minutes. */
export const HISTORY_SAMPLES = 300
/** Dashboards open at once; one more is answered 503 (each costs a snapshot a second). */
export const MAX_SUBSCRIBERS = 16
/** A subscriber that lets this much pile up unread is dropped: it must not hold the server's memory. */
export const MAX_UNREAD_BYTES = 1024 * 1024

export interface Sample {
  /** Wall clock, ms. */
  t: number
  /** Messages received per second (routed or not), and requests that failed or timed out. */
  messages: number
  failed: number
  /** Handler time of the requests in this second, in ms: upper bound of the bucket holding the quantile. */
  p50Ms: number | null
  p99Ms: number | null
  connections: { tcp: number; udp: number }
  /** Drops in this second by reason; reasons with none are left out. */
  drops: Record<string, number>
  bytesIn: number
  bytesOut: number
}

/** Running totals a sample is the difference of. */
export interface Totals {
  messages: number
  failed: number
  /** Requests per duration bucket (DURATION_BUCKETS, then +Inf), over every msgId. */
  buckets: number[]
  drops: Record<string, number>
  bytesIn: number
  bytesOut: number
}

export interface FeedSource {
  read(): Promise<{ status: Status; totals: Totals }>
}

/** Totals of several processes (workers) added up. */
export function sumTotals(all: Totals[]): Totals {
  const out: Totals = { messages: 0, failed: 0, buckets: [], drops: {}, bytesIn: 0, bytesOut: 0 }
  for (const t of all) {
    out.messages += t.messages
    out.failed += t.failed
    out.bytesIn += t.bytesIn
    out.bytesOut += t.bytesOut
    t.buckets.forEach((n, i) => (out.buckets[i] = (out.buckets[i] ?? 0) + n))
    for (const [k, v] of Object.entries(t.drops)) out.drops[k] = (out.drops[k] ?? 0) + v
  }
  return out
}

export class Feed {
  readonly samples: Sample[] = []
  private readonly clients = new Set<ServerResponse>()
  private readonly timer: NodeJS.Timeout
  private last: Totals | null = null
  private reading = false
  private closed = false
  /** Subscribers waiting for their first snapshot. */
  private joining = 0

  constructor(
    private readonly source: FeedSource,
    private readonly log: Logger,
    periodMs = 1_000,
  ) {
    void this.tick()
    this.timer = setInterval(() => void this.tick(), periodMs).unref()
  }

  get subscribers(): number {
    return this.clients.size
  }

  /** Something changed (a plugin event): send a snapshot now rather than at the next tick. */
  poke(): void {
    if (this.clients.size > 0) void this.tick(false)
  }

  /** A read takes as long as the source needs (workers answer over IPC); one runs at a time. */
  private async tick(sampled = true): Promise<void> {
    if (this.reading || this.closed) return
    this.reading = true
    try {
      const { status, totals } = await this.source.read()
      let sample: Sample | null = null
      if (sampled) {
        if (this.last !== null) sample = this.sample(this.last, totals, status)
        this.last = totals
      }
      if (sample) {
        this.samples.push(sample)
        if (this.samples.length > HISTORY_SAMPLES) this.samples.shift()
      }
      if (sample || !sampled) this.broadcast(event('tick', { status, sample }))
    } catch {
      // A source that cannot answer (a worker restarting) skips this second.
    } finally {
      this.reading = false
    }
  }

  private sample(prev: Totals, now: Totals, status: Status): Sample {
    const buckets = Float64Array.from(now.buckets, (n, i) => n - (prev.buckets[i] ?? 0))
    const drops: Record<string, number> = {}
    for (const [reason, n] of Object.entries(now.drops)) if (n > (prev.drops[reason] ?? 0)) drops[reason] = n - (prev.drops[reason] ?? 0)
    const ms = (q: number) => {
      const s = quantile(buckets, q)
      return s === null ? null : Number.isFinite(s) ? s * 1000 : 10_000
    }
    return {
      t: Date.now(),
      messages: now.messages - prev.messages,
      failed: now.failed - prev.failed,
      p50Ms: ms(0.5),
      p99Ms: ms(0.99),
      connections: { ...status.connectionsByProtocol },
      drops,
      bytesIn: now.bytesIn - prev.bytesIn,
      bytesOut: now.bytesOut - prev.bytesOut,
    }
  }

  private broadcast(frame: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_UNREAD_BYTES) {
        this.clients.delete(res)
        const remote = res.socket ? `${res.socket.remoteAddress}:${res.socket.remotePort}` : undefined
        this.log.warn({ remote, unread: res.writableLength, limit: MAX_UNREAD_BYTES }, 'dashboard subscriber dropped: it left too many events unread')
        res.destroy()
      } else {
        res.write(frame)
      }
    }
  }

  /** Answer GET /events: the history and the latest snapshot at once, then a tick a second. */
  async subscribe(res: ServerResponse): Promise<void> {
    if (this.clients.size + this.joining >= MAX_SUBSCRIBERS) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '10' }).end(`too many live dashboards (at most ${MAX_SUBSCRIBERS})\n`)
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
    this.joining++
    let status: Status
    try {
      status = (await this.source.read()).status
    } finally {
      this.joining--
    }
    if (res.destroyed || this.closed) return void res.end()
    // hello first, then ticks: the subscriber joins the broadcast list only now.
    res.write(event('hello', { status, samples: this.samples }))
    this.clients.add(res)
    res.on('close', () => this.clients.delete(res))
  }

  close(): void {
    this.closed = true
    clearInterval(this.timer)
    for (const res of this.clients) res.end()
    this.clients.clear()
  }
}

function event(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`
}
