// What happens to a plugin whose code faults (Erlang's supervisor, one level
// deep): `keep` it running; `restart` it (dispose, setup again with ctx.data
// kept) after a backoff that doubles per fault in the window; or `unload` it.
// With `restart` or `unload`, `max` faults within `windowMs` are borne and
// the next one unloads the plugin (Erlang's restart intensity); a new save of
// the plugin starts it again with a clean window.
import type { EnetConfig } from '../../config.ts'

export type FaultPolicyName = 'keep' | 'restart' | 'unload'

export interface FaultPolicy {
  policy: FaultPolicyName
  max: number
  windowMs: number
  backoffMs: number
}

/** The policy for plugin `name`: plugins.faults, with its byPlugin entry over it. */
export function policyFor(config: EnetConfig, name: string): FaultPolicy {
  const { byPlugin, ...base } = config.plugins.faults
  return { ...base, ...byPlugin[name] }
}

export type Verdict = { action: 'keep' } | { action: 'restart'; afterMs: number } | { action: 'unload' }

/** One plugin's fault history: every fault counted, the recent ones timed. */
export class FaultRecord {
  total = 0
  restarts = 0
  last: { message: string; site: string; at: string; version: number; time: number } | null = null
  private recent: number[] = []

  /** A fault that no policy acts on (a retired version's, a dispose's). */
  count(): void {
    this.total++
  }

  /** A fault at `now` (ms) of the version serving: what the policy says to do. */
  judge(p: FaultPolicy, now: number): Verdict {
    this.total++
    if (p.policy === 'keep') return { action: 'keep' }
    this.recent = this.recent.filter((t) => now - t < p.windowMs)
    this.recent.push(now)
    if (this.recent.length > p.max) return { action: 'unload' }
    if (p.policy === 'unload') return { action: 'keep' }
    return { action: 'restart', afterMs: Math.min(p.windowMs, p.backoffMs * 2 ** (this.recent.length - 1)) }
  }

  /** New code from disk: it starts with a clean window. */
  fresh(): void {
    this.recent = []
  }

  get inWindow(): number {
    return this.recent.length
  }
}
