// tapable has no untap (webpack/tapable#32, #75), so the host owns that: a
// plugin version records its taps, and they enter and leave the real hooks
// together, in the synchronous swap step.
import { EnetError, describe } from '../../errors.ts'
import type { ServerHooks } from '../../hooks.ts'
import type { PluginContext } from '../../types.ts'
import { ownedBy, type FaultOwner } from './scope.ts'

type AnyHook = {
  taps: Array<{ fn: unknown }>
  tap(opts: object, fn: unknown): void
  tapPromise?(opts: object, fn: unknown): void
  _resetCompilation(): void
}

interface TapRecord {
  hook: AnyHook
  hookName: string
  kind: 'tap' | 'tapPromise'
  options: { name: string; stage?: number; before?: string | string[] }
  fn: (...args: unknown[]) => unknown
  /** The tap object tapable made, once attached. */
  tap?: { fn: unknown }
}

export class VersionTaps {
  private readonly records: TapRecord[] = []
  private active = false

  constructor(
    private readonly hooks: ServerHooks,
    private readonly owner: string,
    /** Taps run as this version's code (scope.ts). */
    private readonly version: FaultOwner,
  ) {}

  /** The ctx.hooks view handed to the plugin. */
  view(): PluginContext['hooks'] {
    const view: Record<string, object> = {}
    for (const [name, hook] of Object.entries(this.hooks) as unknown as Array<[string, AnyHook]>) {
      const record = (kind: TapRecord['kind']) => (opts: string | TapRecord['options'], fn: TapRecord['fn']) => {
        if (typeof fn !== 'function') throw new TypeError(`${this.owner}: ${name}.${kind}() needs a function`)
        const given = typeof opts === 'string' ? { name: opts } : opts
        // Every tap carries the plugin's stable name; the plugin's label stays visible after it.
        const r: TapRecord = { hook, hookName: name, kind, options: { ...given, name: `${this.owner}/${given.name}` }, fn: named(name, `${this.owner}/${given.name}`, kind, ownedBy(this.version, fn)) }
        this.records.push(r)
        if (this.active) this.add(r)
      }
      view[name] = hook.tapPromise ? { tap: record('tap'), tapPromise: record('tapPromise') } : { tap: record('tap') }
    }
    return Object.freeze(view) as unknown as PluginContext['hooks']
  }

  get count(): number {
    return this.records.length
  }

  attach(): void {
    if (this.active) return
    this.active = true
    for (const r of this.records) this.add(r)
  }

  detach(): void {
    if (!this.active) return
    this.active = false
    const mine = new Set(this.records.map((r) => r.tap))
    for (const hook of new Set(this.records.map((r) => r.hook))) {
      hook.taps = hook.taps.filter((t) => !mine.has(t))
      hook._resetCompilation()
    }
    for (const r of this.records) r.tap = undefined
  }

  private add(r: TapRecord): void {
    if (r.kind === 'tapPromise') r.hook.tapPromise!(r.options, r.fn)
    else r.hook.tap(r.options, r.fn)
    r.tap = r.hook.taps.find((t) => t.fn === r.fn && (t as { name?: string }).name === r.options.name)
  }
}

/** What a plugin's tap throws (or rejects with) comes out as ENET_ERR_HOOK naming the hook and the tap, the original as `cause`. */
function named(hook: string, tap: string, kind: TapRecord['kind'], fn: TapRecord['fn']): TapRecord['fn'] {
  const wrap = (err: unknown) => new EnetError('ENET_ERR_HOOK', [hook, tap, describe(err)], { cause: err })
  if (kind === 'tapPromise') {
    return (...args) =>
      Promise.resolve()
        .then(() => fn(...args))
        .catch((err: unknown) => {
          throw wrap(err)
        })
  }
  return (...args) => {
    try {
      return fn(...args)
    } catch (err) {
      throw wrap(err)
    }
  }
}
