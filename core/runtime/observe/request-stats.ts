// What the metrics need that the server does not already count: requests by
// msgId, outcome and duration, and connections opened and closed by reason.
// Fed by three hook taps; everything else is read at scrape time.
//
// The dispatcher's recorder is the per-request cost of metrics: an
// increment into the msgId's counts (cached on the route, so no Map lookup),
// and for the requests it timed (one sync request in 64, every async one:
// see TIME_MASK in dispatch.ts) a short bucket scan into a typed array.
// prom-client's Histogram.observe() builds a label key string per call; the
// registry reads these arrays when scraped.
import type { RequestRecorder } from '../../engine/dispatch.ts'
import type { Server } from '../../engine/server.ts'
import type { CloseReason, Protocol } from '../../types.ts'

/** Upper bounds of the duration buckets, in seconds (100 µs to 10 s). */
export const DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const BOUNDS_MS = DURATION_BUCKETS.map((s) => s * 1000)

export interface MsgIdStats {
  ok: number
  error: number
  timeout: number
  /** Requests per bucket (not cumulative); the last slot is above every bound (+Inf). */
  readonly buckets: Float64Array
  sumSeconds: number
}

/** Close reasons that get their own label; any other (a plugin's own) is counted as `other`, so labels stay bounded. */
const KNOWN_REASONS = new Set<string>(['peer-closed', 'peer-error', 'server-close', 'idle-timeout', 'frame-too-large', 'frame-timeout', 'bad-frame', 'slow-consumer', 'kicked', 'evicted'])

export class RequestStats implements RequestRecorder {
  /** Routed msgIds only (afterHandle never sees an unknown one), so a peer cannot grow this map. */
  readonly byMsgId = new Map<number, MsgIdStats>()
  readonly opened: Record<string, number> = {}
  /** `protocol reason` → count. */
  readonly closed = new Map<string, number>()

  constructor(server: Server) {
    const hooks = server.hooks
    server.dispatcher.recorder = this
    hooks.onConnStart.tap('enet:metrics', (conn) => {
      this.opened[conn.protocol] = (this.opened[conn.protocol] ?? 0) + 1
    })
    hooks.onConnStop.tap('enet:metrics', (conn, reason) => this.close(conn.protocol, reason))
  }

  counts(msgId: number): MsgIdStats {
    let s = this.byMsgId.get(msgId)
    if (s === undefined) {
      s = { ok: 0, error: 0, timeout: 0, buckets: new Float64Array(BOUNDS_MS.length + 1), sumSeconds: 0 }
      this.byMsgId.set(msgId, s)
    }
    return s
  }

  record(msgId: number, status: 'ok' | 'error' | 'timeout', ms: number): void {
    const s = this.counts(msgId)
    s[status]++
    if (ms !== ms) return // NaN: not timed
    let i = 0
    while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++
    s.buckets[i]!++
    s.sumSeconds += ms / 1000
  }

  private close(protocol: Protocol, reason: CloseReason): void {
    const key = `${protocol} ${KNOWN_REASONS.has(reason) ? reason : 'other'}`
    this.closed.set(key, (this.closed.get(key) ?? 0) + 1)
  }

  /** Requests and duration buckets over every msgId: what the dashboard's throughput and latency lines are drawn from. */
  totals(): { requests: number; failed: number; buckets: Float64Array } {
    const buckets = new Float64Array(BOUNDS_MS.length + 1)
    let requests = 0
    let failed = 0
    for (const s of this.byMsgId.values()) {
      requests += s.ok + s.error + s.timeout
      failed += s.error + s.timeout
      for (let i = 0; i < buckets.length; i++) buckets[i]! += s.buckets[i]!
    }
    return { requests, failed, buckets }
  }
}

/** The upper bound (seconds) of the bucket holding quantile `q` of `buckets`; null when empty. */
export function quantile(buckets: Float64Array, q: number): number | null {
  let total = 0
  for (const n of buckets) total += n
  if (total === 0) return null
  let seen = 0
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!
    if (seen >= q * total) return i < DURATION_BUCKETS.length ? DURATION_BUCKETS[i]! : Infinity
  }
  return Infinity
}
