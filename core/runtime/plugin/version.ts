// One loaded version of a plugin: its context, routes, taps, timers, and the
// count of its requests still running (so it can be drained, then disposed).
// Its code runs in its fault scope (scope.ts); nothing of it runs once disposed.
import type { Logger } from 'pino'
import { withTimeout } from '../../engine/deadline.ts'
import { EnetError } from '../../errors.ts'
import { callHook, type ServerHooks } from '../../hooks.ts'
import type { InflightTracker, Route } from '../../engine/router.ts'
import type { PluginContext, PluginDefinition, PluginServer } from '../../types.ts'
import { runAs, type FaultOwner, type FaultSite } from './scope.ts'
import { VersionTaps } from './taps.ts'
import { VersionObservables } from './metrics.ts'

export interface VersionDeps {
  hooks: ServerHooks
  server: PluginServer
  log: Logger
  data: Record<string, unknown>
  options: Record<string, unknown>
  use(from: string, plugin: string): unknown
  /** Turn on UDP address validation while `owner` holds it; returns the release. */
  requireAddressValidation(owner: object): () => void
  /** Code of this version threw or rejected outside any request. */
  fault(version: PluginVersion, err: unknown, site: FaultSite): void
}

export class PluginVersion implements InflightTracker, FaultOwner {
  inflight = 0
  routes: Route[] = []
  api: unknown = undefined
  readonly taps: VersionTaps
  /** Metrics and report; read from the version that serves, so a replaced one's vanish with it. */
  readonly observed: VersionObservables
  readonly ctx: PluginContext
  private readonly abort = new AbortController()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly disposers: Array<() => void | Promise<void>> = []
  private idleWaiters: Array<() => void> = []
  private disposed = false
  private warnedLate = false
  private readonly onFault: VersionDeps['fault']

  constructor(
    readonly name: string,
    readonly n: number,
    readonly def: PluginDefinition,
    readonly file: string,
    deps: VersionDeps,
  ) {
    this.onFault = deps.fault
    this.taps = new VersionTaps(deps.hooks, `plugin:${name}`, this)
    this.observed = new VersionObservables(name)
    const timers = this.timers
    const track = (t: NodeJS.Timeout) => (timers.add(t), t)
    // A timer's callback runs as this version's code, and what it throws is this version's fault, not the process's.
    const guarded = (fn: () => void, site: FaultSite) => () => {
      if (this.disposed) return
      try {
        runAs(this, fn)
      } catch (err) {
        this.fault(err, site)
      }
    }
    this.ctx = Object.freeze({
      name,
      version: n,
      log: deps.log.child({ plugin: name, version: n }),
      options: deps.options,
      data: deps.data,
      hooks: this.taps.view(),
      server: deps.server,
      signal: this.abort.signal,
      setInterval: (fn: () => void, ms: number) => (this.disposed ? this.lateTimer('setInterval') : track(setInterval(guarded(fn, 'interval'), ms))),
      setTimeout: (fn: () => void, ms: number) => {
        if (this.disposed) return this.lateTimer('setTimeout')
        const run = guarded(fn, 'timer')
        const t: NodeJS.Timeout = setTimeout(() => {
          timers.delete(t)
          run()
        }, ms)
        return track(t)
      },
      clearTimer: (t: NodeJS.Timeout) => {
        clearTimeout(t)
        timers.delete(t)
      },
      onDispose: (fn: () => void | Promise<void>) => void this.disposers.push(fn),
      emit: (topic: string, payload?: unknown) => callHook(deps.hooks, 'onPluginMessage', deps.log, `${name}:${topic}`, payload),
      use: <T>(plugin: string) => deps.use(name, plugin) as T,
      requireAddressValidation: () => {
        if (this.disposed) return
        this.disposers.push(deps.requireAddressValidation(this))
      },
      metrics: this.observed.view(),
      report: (fn: () => Record<string, unknown>) => this.observed.setReport(fn),
    })
  }

  fault(err: unknown, site: FaultSite): void {
    this.onFault(this, err, site)
  }

  /**
   * A timer asked for after dispose (by a handler that outlived its version,
   * say): a Timeout object that is never armed, so nothing of this version runs again.
   */
  private lateTimer(kind: string): NodeJS.Timeout {
    if (!this.warnedLate) {
      this.warnedLate = true
      this.ctx.log.warn({ plugin: this.name, version: this.n }, `ctx.${kind} called after this version was disposed: the timer never fires`)
    }
    const t = setTimeout(() => {}, 0)
    clearTimeout(t)
    return t
  }

  idle(): void {
    for (const w of this.idleWaiters.splice(0)) w()
  }

  /** Resolves true when no request of this version runs, false after `ms`. */
  drained(ms: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms)
      this.idleWaiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  /** Free everything this version took; errors are collected, not thrown. */
  async dispose(timeoutMs: number): Promise<Error[]> {
    if (this.disposed) return []
    this.disposed = true
    this.taps.detach()
    // Abort listeners are this version's code too.
    runAs(this, () => this.abort.abort())
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    const errors: Error[] = []
    const steps = [...(this.def.dispose ? [() => this.def.dispose!(this.ctx)] : []), ...this.disposers.reverse()]
    for (const step of steps) {
      try {
        await withTimeout(runAs(this, () => Promise.resolve().then(step)), timeoutMs, () => new EnetError('ENET_ERR_PLUGIN_SETUP_TIMEOUT', [this.name, this.file, 'dispose', timeoutMs]))
      } catch (err) {
        errors.push(err as Error)
      }
    }
    this.disposers.length = 0
    return errors
  }
}
