// Node authentication (opt-in): a signed payload is the plain one with a
// timestamp and an HMAC-SHA256 tag appended, as text:
//
//   body \n ts \n hex(tag)      tag = HMAC(secret, `${msgId}\n${queryId}\n${ts}\n` + body)
//
// ts is wall-clock ms, decimal; queryId is '' unless the message answers a
// query. The msgId in the tag keeps a beat's tag from passing as an answer's.
// Parsed from the end, so a body may itself hold newlines (`resource\nhost:port`).
import { createHmac, timingSafeEqual } from 'node:crypto'

export type AuthFailure = 'bad-tag' | 'replay' | 'skew' | 'malformed'
export type VerifyResult = { ok: true; body: Buffer; ts: number } | { ok: false; reason: AuthFailure }

export interface SignOptions {
  /** Wall-clock ms; default now. */
  ts?: number
  /** The query this message answers (locate answers). */
  queryId?: string
}

export interface VerifyOptions {
  /** A timestamp further than this from now, either way, is refused. */
  maxSkewMs: number
  /** Tags seen within the window: a second copy is a replay. */
  replay: ReplayCache
  /** The query id the answer must be bound to; '' when none. */
  queryId?: string
  /** Wall-clock ms; default now. */
  now?: number
}

const NL = 0x0a
const TAG_HEX = 64
const TS = /^(?:0|[1-9][0-9]{0,14})$/
const HEX = /^[0-9a-f]{64}$/

function tagOf(secret: string | Buffer, msgId: number, queryId: string, ts: string, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(`${msgId}\n${queryId}\n${ts}\n`).update(body).digest()
}

export function signMessage(secret: string | Buffer, msgId: number, body: string | Buffer, opts: SignOptions = {}): Buffer {
  const ts = opts.ts ?? Date.now()
  const queryId = opts.queryId ?? ''
  if (!TS.test(String(ts))) throw new TypeError(`signMessage: ts must be a non-negative integer of ms, got ${JSON.stringify(opts.ts)}`)
  if (queryId.includes('\n')) throw new TypeError(`signMessage: queryId must not contain a newline, got ${JSON.stringify(queryId)}`)
  const b = typeof body === 'string' ? Buffer.from(body) : body
  const tag = tagOf(secret, msgId, queryId, String(ts), b)
  return Buffer.concat([b, Buffer.from(`\n${ts}\n${tag.toString('hex')}`)])
}

/** The parts of a signed payload, or null when it is not one. Does not check the tag. */
export function parseSigned(data: Buffer): { body: Buffer; ts: number; tsText: string; tag: Buffer } | null {
  const tagStart = data.length - TAG_HEX
  if (tagStart < 3 || data[tagStart - 1] !== NL) return null
  const tsEnd = tagStart - 1
  const nl = data.lastIndexOf(NL, tsEnd - 1)
  if (nl < 0) return null
  const tsText = data.toString('latin1', nl + 1, tsEnd)
  const tagHex = data.toString('latin1', tagStart)
  if (!TS.test(tsText) || !HEX.test(tagHex)) return null
  return { body: data.subarray(0, nl), ts: Number(tsText), tsText, tag: Buffer.from(tagHex, 'hex') }
}

/**
 * Checks in this order: form, tag, clock, replay. The tag comes before the
 * clock so that `skew` always means a genuine sender with a wrong clock, and
 * only genuine tags enter the replay cache (a forger cannot fill it).
 */
export function verifyMessage(secret: string | Buffer, msgId: number, data: Buffer, opts: VerifyOptions): VerifyResult {
  const m = parseSigned(data)
  if (m === null) return { ok: false, reason: 'malformed' }
  if (!timingSafeEqual(tagOf(secret, msgId, opts.queryId ?? '', m.tsText, m.body), m.tag)) return { ok: false, reason: 'bad-tag' }
  const now = opts.now ?? Date.now()
  if (Math.abs(now - m.ts) > opts.maxSkewMs) return { ok: false, reason: 'skew' }
  if (!opts.replay.add(m.tag, m.ts + opts.maxSkewMs, now)) return { ok: false, reason: 'replay' }
  return { ok: true, body: m.body, ts: m.ts }
}

/**
 * Tags accepted within the skew window. A tag can be forgotten once its
 * timestamp is out of the window: a copy would then fail the clock check.
 * Bounded: beyond `maxEntries` the oldest is forgotten.
 */
export class ReplayCache {
  /** Key → wall-clock ms until which a copy is a replay; in insertion order. */
  private readonly seen = new Map<string, number>()

  constructor(readonly maxEntries = 100_000) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError(`ReplayCache: maxEntries must be a positive integer, got ${JSON.stringify(maxEntries)}`)
  }

  get size(): number {
    return this.seen.size
  }

  /** Records `tag`; false when it was already recorded and has not expired. */
  add(tag: Buffer, expiresAt: number, now = Date.now()): boolean {
    // Entries are roughly in expiry order; dropping the expired head keeps this O(1) amortized.
    for (const [k, until] of this.seen) {
      if (until >= now) break
      this.seen.delete(k)
    }
    // 128 bits of the tag as a 16-char string: a quarter of the hex's memory, collisions out of reach.
    const key = tag.toString('latin1', 0, 16)
    const until = this.seen.get(key)
    if (until !== undefined && until >= now) return false
    this.seen.delete(key)
    if (this.seen.size >= this.maxEntries) this.seen.delete(this.seen.keys().next().value!)
    this.seen.set(key, expiresAt)
    return true
  }
}
