// The plugin host. Reload = import and validate the new version, run its
// setup, then swap routes and taps in one synchronous step; the old version
// drains and is disposed afterwards. Any failure before the swap leaves the
// old version serving (vite restartServer, c12 watch).
import { basename, dirname } from 'node:path'
import type { EnetConfig } from '../../config.ts'
import { EnetError, toError, type ErrorCode } from '../../errors.ts'
import { callHook, type PluginEvent } from '../../hooks.ts'
import { importFresh } from '../loader.ts'
import { withMiddleware } from '../../engine/middleware.ts'
import { compileTable, type Route } from '../../engine/router.ts'
import type { Server } from '../../engine/server.ts'
import type { ClusterBus, PluginDefinition, PluginServer, RouteTable } from '../../types.ts'
import { PluginFailure, checkOptions, entryFile, firstLine, orderByDependencies, scanPluginDirs, validateDefinition } from './discover.ts'
import { withTimeout } from '../../engine/deadline.ts'
import { PluginVersion } from './version.ts'
import { fingerprint } from './fingerprint.ts'
import { ownedBy, runAs, type FaultSite } from './scope.ts'
import { FaultRecord, policyFor, type Verdict } from './supervisor.ts'
import { bundledFolders } from './bundled.ts'

/** Every plugin folder the config asks for: those in its dirs, then the bundled ones it names. */
function pluginFolders(config: EnetConfig): string[] {
  return [...scanPluginDirs(config.plugins.dirs), ...bundledFolders(config.plugins.bundled)]
}

export { entryFile, scanPluginDirs } from './discover.ts'

export interface PluginInfo {
  name: string
  dir: string
  version: number
  /** `faulted`: unloaded by the supervisor after too many faults (plugins.faults). */
  status: 'active' | 'failed' | 'disabled' | 'unloaded' | 'faulted'
  routes: number[]
  taps: number
  inflight: number
  lastError: string | null
  /** Faults of this plugin's code outside any request, since the server started. */
  faults: number
  /** Restarts the supervisor made. */
  restarts: number
  /** The latest fault: `site at file:line: message`. */
  lastFault: string | null
  /** The latest load, reload, unload or failure. */
  lastReload: ReloadRecord | null
}

/** One plugin event as status and the dashboard show it. */
export interface ReloadRecord {
  /** Wall clock, ISO 8601. */
  at: string
  outcome: PluginEvent['outcome']
  from: string | null
  to: string | null
  ms: number
  error?: string
}

/** Reload history kept per plugin, newest last. */
const HISTORY = 10

interface PluginRecord {
  name: string
  dir: string
  current: PluginVersion | null
  status: PluginInfo['status']
  lastError: Error | null
  versions: number
  /** ctx.data: the one object every version of this plugin sees. */
  data: Record<string, unknown>
  faults: FaultRecord
  /** A restart the supervisor has scheduled (backoff). */
  restartTimer: NodeJS.Timeout | undefined
  history: ReloadRecord[]
}

/** Reloads of one folder run one at a time; a burst of requests while one runs folds into one more. */
interface DirQueue {
  running: Promise<void> | null
  again: boolean
  /** One of the folded requests must load even if the folder is unchanged. */
  force: boolean
  /** The supervisor asks for this version to be set up again (a sync, which replaces it anyway, goes first). */
  restartOf: PluginVersion | null
}

export class PluginHost {
  private readonly byName = new Map<string, PluginRecord>()
  private readonly queues = new Map<string, DirQueue>()
  /** closeAll() has begun: nothing new is loaded or swapped in. */
  private closing = false
  private readonly retiring = new Set<Promise<void>>()
  /** Per folder, its fingerprint when it was last loaded (or tried). */
  private readonly loadedFrom = new Map<string, string>()
  private readonly facade: PluginServer

  constructor(
    private readonly server: Server,
    opts: { cluster?: ClusterBus | null } = {},
  ) {
    const s = server
    const cluster = opts.cluster ?? null
    this.facade = Object.freeze({
      get connections() {
        return s.connections
      },
      get counters() {
        return s.counters
      },
      get config() {
        return s.config
      },
      address: () => s.address(),
      sendUdp: (address: string, port: number, msgId: number, data?: Buffer | Uint8Array | string) => s.sendUdp(address, port, msgId, data),
      sendUdpRaw: (address: string, port: number, data: Buffer | Uint8Array | string) => s.sendUdpRaw(address, port, data),
      cluster,
    })
  }

  private get config(): EnetConfig {
    return this.server.config
  }

  /** Load every plugin folder. Returns the failures; with plugins.strict the first one throws. */
  async loadAll(): Promise<Error[]> {
    const imported: Array<{ dir: string; def: PluginDefinition; file: string; t0: number }> = []
    const failures: Error[] = []
    for (const dir of pluginFolders(this.config)) {
      const t0 = performance.now()
      try {
        imported.push({ dir, t0, ...(await this.importDir(dir)) })
      } catch (err) {
        failures.push(this.failed(basename(dir), dir, err, t0))
      }
    }
    // plugins.strict: the first failure stops the start, before (more) plugins run their setup.
    const strict = this.config.plugins.strict
    if (strict && failures.length) throw failures[0]
    for (const item of orderByDependencies(imported)) {
      try {
        await this.activate(item.dir, item.def, item.file, item.t0)
      } catch (err) {
        failures.push(this.failed(item.def.name, item.dir, err, item.t0))
        if (strict) throw failures[0]
      }
    }
    this.warnUnclaimedOptions()
    return failures
  }

  /** Options for a plugin no folder holds are likely a misspelt name: say so (it may still be dropped in). */
  private warnUnclaimedOptions(): void {
    for (const name of Object.keys(this.config.plugins.options)) {
      if (!this.byName.has(name)) this.server.log.warn({ key: `plugins.options.${name}` }, `config: plugins.options.${name}: no plugin named ${name} is loaded (known: ${[...this.byName.keys()].join(', ') || 'none'})`)
    }
  }

  /**
   * Load, reload or unload the plugin in `dir`, whatever its folder now holds. Serialized per folder.
   * `ifChanged` (the file watcher): nothing happens when the folder is as it was at the last load.
   */
  sync(dir: string, ifChanged = false): Promise<void> {
    return this.enqueue(dir, null, ifChanged)
  }

  private enqueue(dir: string, restartOf: PluginVersion | null, ifChanged = false): Promise<void> {
    if (this.closing) return Promise.resolve()
    let q = this.queues.get(dir)
    if (!q) this.queues.set(dir, (q = { running: null, again: false, force: false, restartOf: null }))
    if (restartOf) {
      q.restartOf = restartOf
    } else {
      q.again = true
      q.force ||= !ifChanged
    }
    if (q.running) return q.running
    const queue = q
    const run = async (): Promise<void> => {
      do {
        if (queue.again) {
          queue.again = false
          queue.restartOf = null
          const force = queue.force
          queue.force = false
          await this.syncNow(dir, force)
        } else if (queue.restartOf) {
          const version = queue.restartOf
          queue.restartOf = null
          await this.restartNow(dir, version)
        }
      } while ((queue.again || queue.restartOf) && !this.closing)
      queue.running = null
    }
    return (queue.running = run())
  }

  /** The supervisor's restart: the same definition set up again, ctx.data kept, swapped in as a reload is. */
  private async restartNow(dir: string, version: PluginVersion): Promise<void> {
    const record = this.recordForDir(dir)
    if (!record || record.current !== version) return
    const t0 = performance.now()
    try {
      await this.activate(dir, version.def, version.file, t0, true)
      record.faults.restarts++
    } catch (err) {
      this.failed(record.name, dir, err, t0)
      // A restart that fails is one more fault of the version still serving.
      version.fault(err, 'restart')
    }
  }

  /** Load the plugin folders in `dirs` that no record knows yet (a rescan). */
  async loadNew(dirs: string[]): Promise<void> {
    for (const dir of [...scanPluginDirs(dirs), ...bundledFolders(this.config.plugins.bundled)]) if (!this.recordForDir(dir)) await this.sync(dir)
  }

  /** Reload a plugin by name (API and CLI). */
  async reload(name: string): Promise<PluginInfo> {
    const record = this.byName.get(name)
    if (!record) throw new EnetError('ENET_ERR_PLUGIN_UNKNOWN', [name])
    await this.sync(record.dir)
    return this.info(record)
  }

  private async syncNow(dir: string, force: boolean): Promise<void> {
    const t0 = performance.now()
    const known = this.recordForDir(dir)
    if (entryFile(dir) === null) {
      this.loadedFrom.delete(dir)
      if (known?.current) this.unload(known, 'unloaded', t0)
      return
    }
    // Taken before the import: a save during it makes the next event count.
    const seen = fingerprint(dir)
    if (!force && seen !== null && this.loadedFrom.get(dir) === seen) return
    if (seen === null) this.loadedFrom.delete(dir)
    else this.loadedFrom.set(dir, seen)
    try {
      const { def, file } = await this.importDir(dir)
      await this.activate(dir, def, file, t0)
    } catch (err) {
      this.failed(known?.name ?? basename(dir), dir, err, t0)
    }
  }

  private async importDir(dir: string): Promise<{ def: PluginDefinition; file: string }> {
    const file = entryFile(dir)
    if (file === null) throw new PluginFailure(new EnetError('ENET_ERR_PLUGIN_LOAD', [basename(dir), dir, 'no index.ts']), dir)
    let def: unknown
    try {
      def = await importFresh(file)
    } catch (err) {
      throw new PluginFailure(new EnetError('ENET_ERR_PLUGIN_LOAD', [basename(dir), file, firstLine(err)], { cause: err }), file)
    }
    validateDefinition(def, basename(dir), file)
    return { def, file }
  }

  private async activate(dir: string, def: PluginDefinition, file: string, t0: number, restart = false): Promise<void> {
    const { name } = def
    const fail = (code: ErrorCode, ...args: unknown[]) => new PluginFailure(new EnetError(code, args), file)
    const other = this.byName.get(name)
    if (other && other.dir !== dir && other.current) throw fail('ENET_ERR_PLUGIN_CLASH', name, `name already used by the plugin in ${other.dir}`)
    if (this.config.plugins.disabled.includes(name)) {
      const record = this.record(name, dir)
      if (record.current) this.unload(record, 'disabled', t0)
      else record.status = 'disabled'
      return
    }
    for (const dep of def.dependencies ?? []) {
      if (!this.byName.get(dep)?.current) throw fail('ENET_ERR_PLUGIN_DEPENDENCY', name, dep)
    }
    const badOption = checkOptions(name, def.options, this.config.plugins.options[name])
    if (badOption !== null) throw fail('ENET_ERR_PLUGIN_OPTIONS', name, badOption)
    const owner = `plugin:${name}`
    if (def.routes && typeof def.routes === 'object') this.assertNoClash(compileTable(withMiddleware(def.routes, def.middleware), owner, null, def.rateLimits), owner, file)

    const record = this.record(name, dir)
    const version = new PluginVersion(name, record.versions + 1, def, file, {
      hooks: this.server.hooks,
      server: this.facade,
      log: this.server.log,
      data: record.data,
      options: { ...def.options, ...this.config.plugins.options[name] },
      use: (from, plugin) => this.use(from, plugin),
      requireAddressValidation: (owner) => this.server.requireAddressValidation(owner),
      fault: (v, err, site) => this.fault(v, err, site),
    })
    const setupMs = this.config.plugins.setupTimeoutMs
    let routes: Route[]
    try {
      // Setup, and everything it starts, runs as this version's code (scope.ts).
      version.api = await withTimeout(runAs(version, () => Promise.resolve().then(() => def.setup?.(version.ctx))), setupMs, () => new EnetError('ENET_ERR_PLUGIN_SETUP_TIMEOUT', [name, file, 'setup', setupMs]))
      const table: RouteTable = typeof def.routes === 'function' ? runAs(version, () => (def.routes as (ctx: typeof version.ctx) => RouteTable)(version.ctx)) : (def.routes ?? {})
      routes = compileTable(withMiddleware(table, def.middleware), owner, version, def.rateLimits).map((r) => ({ ...r, run: ownedBy(version, r.run) }))
      this.assertNoClash(routes, owner, file)
    } catch (err) {
      this.retire(version)
      if (err instanceof PluginFailure) throw err
      const e = err instanceof EnetError ? err : new EnetError('ENET_ERR_PLUGIN_SETUP', [name, file, firstLine(err)], { cause: err })
      throw new PluginFailure(e, file)
    }
    version.routes = routes
    if (this.closing) {
      // The server stopped while this version ran its setup: it never serves.
      this.retire(version)
      return
    }

    // The swap: one synchronous step. A request decoded before this line runs
    // the old version, every one after it the new.
    const old = record.current
    this.server.router.replace(owner, routes)
    old?.taps.detach()
    version.taps.attach()
    record.current = version
    record.versions = version.n
    record.status = 'active'
    record.lastError = null
    clearTimeout(record.restartTimer)
    record.restartTimer = undefined
    if (!restart) record.faults.fresh()

    this.event({ plugin: name, from: old ? `v${old.n}` : null, to: `v${version.n}`, outcome: restart ? 'restarted' : old ? 'reloaded' : 'loaded', ms: performance.now() - t0, file })
    if (old) this.retire(old)
  }

  private assertNoClash(routes: Route[], owner: string, file: string): void {
    const clashes = this.server.router.clashes(routes, owner)
    if (clashes.length) throw new PluginFailure(new EnetError('ENET_ERR_PLUGIN_CLASH', [owner.slice(7), clashes.join('; ')]), file)
  }

  private unload(record: PluginRecord, status: 'unloaded' | 'disabled' | 'faulted', t0: number): void {
    const old = record.current
    clearTimeout(record.restartTimer)
    record.restartTimer = undefined
    this.server.router.removeOwner(`plugin:${record.name}`)
    record.current = null
    record.status = status
    if (!old) return
    old.taps.detach()
    this.event({ plugin: record.name, from: `v${old.n}`, to: null, outcome: 'unloaded', ms: performance.now() - t0 })
    this.retire(old)
  }

  /** Drain the old version's running requests (bounded), then dispose it. */
  private retire(version: PluginVersion): void {
    const { drainTimeoutMs, setupTimeoutMs } = this.config.plugins
    const p = (async () => {
      const drained = await version.drained(drainTimeoutMs)
      if (!drained) this.server.log.warn({ plugin: version.name, version: version.n, inflight: version.inflight }, 'plugin version not drained in time; disposing anyway')
      const errors = await version.dispose(setupTimeoutMs)
      for (const err of errors) this.fault(version, err, 'dispose')
    })()
    this.retiring.add(p)
    void p.finally(() => this.retiring.delete(p))
  }

  /** Resolves when every replaced version has been drained and disposed. */
  async settled(): Promise<void> {
    // A reload that finishes retires what it replaced: wait for both until neither is left.
    for (;;) {
      const running = [...this.queues.values()].map((q) => q.running).filter((r) => r !== null)
      if (this.retiring.size === 0 && running.length === 0) return
      await Promise.all([...this.retiring, ...running])
    }
  }

  /**
   * Code of `version` threw or rejected outside any request (a timer, a
   * listener, a stray promise, dispose): log it with the plugin's file:line,
   * count it, tell onPluginEvent, and apply plugins.faults. The server and
   * every connection carry on.
   */
  fault(version: PluginVersion, err: unknown, site: FaultSite): void {
    const error = toError(err)
    const at = whereIn(error, dirname(version.file)) ?? version.file
    this.server.counters['faults.plugin']++
    const record = this.byName.get(version.name)
    const current = record?.current === version
    const policy = policyFor(this.config, version.name)
    // Only the version serving is restarted or unloaded; a retired one's fault is reported and counted.
    let verdict: Verdict = { action: 'keep' }
    if (record && current && site !== 'dispose') verdict = record.faults.judge(policy, performance.now())
    else record?.faults.count()
    if (record) record.faults.last = { message: error.message, site, at, version: version.n, time: Date.now() }
    const then = verdict.action === 'restart' ? `restarting in ${verdict.afterMs} ms` : verdict.action === 'unload' ? `unloading it: more than ${policy.max} faults within ${policy.windowMs} ms` : current ? 'it keeps running' : 'that version is retired'
    this.server.rlog.error(`fault:${version.name}:${site}`, { plugin: version.name, version: version.n, site, at, faults: record?.faults.total, err: error }, `plugin ${version.name} v${version.n} fault (${site}) at ${at}: ${error.message}; ${then}`)
    this.emit({ plugin: version.name, from: `v${version.n}`, to: current ? `v${version.n}` : null, outcome: 'fault', ms: 0, file: version.file, error, site, at })
    if (!record || this.closing) return
    if (verdict.action === 'unload') {
      this.unload(record, 'faulted', performance.now())
    } else if (verdict.action === 'restart' && record.restartTimer === undefined) {
      record.restartTimer = setTimeout(() => {
        record.restartTimer = undefined
        void this.enqueue(record.dir, version)
      }, verdict.afterMs).unref()
    }
  }

  private use(from: string, plugin: string): unknown {
    const def = this.byName.get(from)?.current?.def
    if (def && !(def.dependencies ?? []).includes(plugin)) {
      throw new EnetError('ENET_ERR_PLUGIN_DEPENDENCY', [from, `${plugin} (add it to dependencies)`])
    }
    const current = this.byName.get(plugin)?.current
    if (!current) throw new EnetError('ENET_ERR_PLUGIN_DEPENDENCY', [from, plugin])
    return current.api
  }

  private failed(name: string, dir: string, err: unknown, t0: number): Error {
    const failure = err instanceof PluginFailure ? err : new PluginFailure(new EnetError('ENET_ERR_PLUGIN_LOAD', [name, dir, firstLine(err)], { cause: err }), dir)
    const record = this.byName.get(name)
    if (record) {
      record.lastError = failure.error
      if (!record.current) record.status = 'failed'
    } else {
      const r = this.record(name, dir)
      r.status = 'failed'
      r.lastError = failure.error
    }
    const from = record?.current ? `v${record.current.n}` : null
    this.event({ plugin: name, from, to: null, outcome: 'failed', ms: performance.now() - t0, file: failure.file, error: failure.error })
    return failure.error
  }

  private event(e: PluginEvent): void {
    const line = { plugin: e.plugin, from: e.from, to: e.to, outcome: e.outcome, ms: Math.round(e.ms * 10) / 10 }
    const history = this.byName.get(e.plugin)?.history
    if (history) {
      history.push({ at: new Date().toISOString(), ...line, ...(e.error ? { error: e.error.message } : {}) })
      if (history.length > HISTORY) history.shift()
    }
    if (e.outcome === 'failed') {
      const cause = (e.error as EnetError & { cause?: unknown }).cause
      this.server.log.error({ ...line, file: e.file, err: cause ? toError(cause) : e.error }, e.error!.message)
    } else {
      this.server.log.info(line, `plugin ${e.outcome}`)
    }
    this.emit(e)
  }

  private emit(e: PluginEvent): void {
    callHook(this.server.hooks, 'onPluginEvent', this.server.log, e)
  }

  private record(name: string, dir: string): PluginRecord {
    let r = this.byName.get(name)
    if (!r) {
      // A failed import before any name was known is filed under the folder's name.
      const placeholder = this.byName.get(basename(dir))
      if (placeholder && placeholder.dir === dir && !placeholder.current && placeholder.name !== name) this.byName.delete(placeholder.name)
      this.byName.set(name, (r = { name, dir, current: null, status: 'unloaded', lastError: null, versions: 0, data: {}, faults: new FaultRecord(), restartTimer: undefined, history: [] }))
    }
    r.dir = dir
    return r
  }

  private recordForDir(dir: string): PluginRecord | undefined {
    for (const r of this.byName.values()) if (r.dir === dir) return r
    return undefined
  }

  get(name: string): PluginInfo | undefined {
    const r = this.byName.get(name)
    return r && this.info(r)
  }

  list(): PluginInfo[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name)).map((r) => this.info(r))
  }

  private info(r: PluginRecord): PluginInfo {
    return {
      name: r.name,
      dir: r.dir,
      version: r.current?.n ?? 0,
      status: r.status,
      routes: r.current?.routes.map((x) => x.msgId).sort((a, b) => a - b) ?? [],
      taps: r.current?.taps.count ?? 0,
      inflight: r.current?.inflight ?? 0,
      lastError: r.lastError?.message ?? null,
      faults: r.faults.total,
      restarts: r.faults.restarts,
      lastFault: r.faults.last && `${r.faults.last.site} at ${r.faults.last.at}: ${r.faults.last.message}`,
      lastReload: r.history.at(-1) ?? null,
    }
  }

  /** The last HISTORY loads, reloads and failures of a plugin, oldest first. */
  history(name: string): ReloadRecord[] {
    return [...(this.byName.get(name)?.history ?? [])]
  }

  /** The versions serving now: what GET /metrics and status read a plugin's metrics and report from. */
  serving(): PluginVersion[] {
    return [...this.byName.values()].flatMap((r) => (r.current ? [r.current] : []))
  }

  /** The config changed: load, unload and reload what it affects. */
  async applyConfig(prev: EnetConfig, next: EnetConfig): Promise<void> {
    const wanted = new Set(pluginFolders(next))
    const dirs = new Set<string>()
    for (const r of this.byName.values()) {
      if (!wanted.has(r.dir)) {
        if (r.current) this.unload(r, 'unloaded', performance.now())
        continue
      }
      const optionsChanged = JSON.stringify(prev.plugins.options[r.name]) !== JSON.stringify(next.plugins.options[r.name])
      const toggled = prev.plugins.disabled.includes(r.name) !== next.plugins.disabled.includes(r.name)
      if (optionsChanged || toggled) dirs.add(r.dir)
    }
    const known = new Set([...this.byName.values()].map((r) => r.dir))
    for (const dir of wanted) if (!known.has(dir)) dirs.add(dir)
    for (const dir of dirs) await this.sync(dir)
    this.warnUnclaimedOptions()
  }

  /** The API a plugin's setup returned (tests, embedding apps). */
  api<T = unknown>(name: string): T | undefined {
    return this.byName.get(name)?.current?.api as T | undefined
  }

  /** Unload everything (server stop): dependents first, then what they depend on. */
  async closeAll(): Promise<void> {
    // From here no version is swapped in: a reload in its setup retires what it made.
    this.closing = true
    for (const r of this.byName.values()) clearTimeout(r.restartTimer)
    const active = [...this.byName.values()].filter((r) => r.current).map((r) => ({ record: r, def: r.current!.def }))
    for (const { record } of orderByDependencies(active).reverse()) this.unload(record, 'unloaded', performance.now())
    await this.settled()
  }
}


/** `file:line:col` of the first stack frame inside the plugin's folder (node_modules excluded), or null. */
export function whereIn(err: Error, dir: string): string | null {
  for (const line of (err.stack ?? '').split('\n')) {
    const m = /\(?((?:file:\/\/)?\/[^\s()]+):(\d+):(\d+)\)?\s*$/.exec(line)
    if (!m) continue
    const file = m[1]!.replace(/^file:\/\//, '')
    if (file.startsWith(dir + '/') && !file.includes('/node_modules/')) return `${file}:${m[2]}:${m[3]}`
  }
  return null
}
