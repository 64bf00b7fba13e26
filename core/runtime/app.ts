// The running application: config file + server + plugin host + watchers.
// Everything live-reloadable is wired here; the server itself knows nothing
// of files.
import { dirname, join, relative, sep } from 'node:path'
import type { DestinationStream } from 'pino'
import { diffConfig, type ConfigPatch, type EnetConfig } from '../config.ts'
import { loadConfig, type LoadOptions } from './config-file.ts'
import { stopTranspiler, transpileAhead } from './loader.ts'
import { describe } from '../errors.ts'
import { PluginHost, entryFile } from './plugin/host.ts'
import type { DebouncedWatcher } from './plugin/watcher.ts'
import { Server } from '../engine/server.ts'
import { callHook } from '../hooks.ts'
import { existsSync } from 'node:fs'
import { AdminSocket, localAdmin } from './admin.ts'
import type { ClusterBus } from '../types.ts'
import { statusSnapshot, type Status } from './status.ts'
import type { Observatory } from './observe/observatory.ts'

/** After a plugin folder is added to the watcher, when to look again for what its scan missed. */
const RESCAN_MS = 500

export interface AppOptions {
  file?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  flags?: ConfigPatch
  logStream?: DestinationStream
  /** Quiet time before a burst of file events settles (ms). */
  debounceMs?: number
  /** How long a vanished plugin entry file may stay gone before the plugin unloads (ms). */
  removeGraceMs?: number
  /** How long loading the config file may take (ms); default CONFIG_LOAD_TIMEOUT_MS. */
  loadTimeoutMs?: number
  /** Set in a worker of `enet start --workers N`: plugins reach the other workers through it. */
  cluster?: ClusterBus
  /** false in a worker: it counts for the metrics, and the cluster primary serves them over HTTP. */
  serveHttp?: boolean
}

export interface ConfigReload {
  outcome: 'applied' | 'failed'
  changed: string[]
  restartNeeded: string[]
  error?: Error
}

export class App {
  private pluginWatcher: DebouncedWatcher | null = null
  private configWatcher: DebouncedWatcher | null = null
  private certWatcher: DebouncedWatcher | null = null
  private closed = false
  /** The TLS files the cert watcher follows. */
  private certFiles: string[] = []
  private reloading: Promise<ConfigReload> | null = null
  private rescan: NodeJS.Timeout | undefined = undefined
  private admin: AdminSocket | null = null
  /** Metrics, status and dashboard over HTTP, when `http` is configured. */
  observatory: Observatory | null = null

  constructor(
    readonly server: Server,
    readonly plugins: PluginHost,
    readonly configFile: string | null,
    private readonly opts: AppOptions,
  ) {
    server.hooks.onClose.tapPromise('enet:plugins', () => plugins.closeAll())
  }

  private timing() {
    return {
      debounceMs: this.opts.debounceMs ?? this.server.config.plugins.debounceMs,
      removeGraceMs: this.opts.removeGraceMs ?? 300,
      stabilityMs: 50,
    }
  }

  /** Resolves once the watchers have scanned their folders. */
  async watch(): Promise<void> {
    await this.watchCertificate()
    const cfg = this.server.config
    if (!cfg.plugins.watch) return
    const DebouncedWatcher = await loadWatcher()
    if (this.closed) return
    const timing = this.timing()
    const log = this.server.log
    this.pluginWatcher = new DebouncedWatcher(cfg.plugins.dirs, {
      ...timing,
      keyOf: (p) => pluginFolderOf(p, this.server.config.plugins.dirs),
      present: (dir) => entryFile(dir) !== null,
      // A burst of events for one change (a new folder, then each of its files) loads once.
      onSettled: (dir) => void this.plugins.sync(dir, true),
      // The worker transpiles a saved file while the debounce runs, so the reload finds it in the cache.
      onEvent: (_dir, path, event) => void (event === 'add' || event === 'change' ? transpileAhead(path) : undefined),
      onError: (err) => log.error({ err, dirs: this.server.config.plugins.dirs }, `plugin watcher failed, watching again: ${describe(err)}`),
      // What appeared meanwhile loads; an edit made in the gap waits for its next save.
      onRecovered: () => void this.plugins.loadNew(this.server.config.plugins.dirs),
    })
    const file = this.configFile
    if (file) {
      // The folder, filtered to the file: a watch on the file itself is lost
      // when a save renames a new file over it (sed -i, many editors).
      const dir = dirname(file)
      this.configWatcher = new DebouncedWatcher([dir], {
        ...timing,
        depth: 0,
        ignore: (p) => p !== dir && p !== file,
        keyOf: (p) => (p === file ? file : null),
        present: () => existsSync(file),
        onSettled: () => void this.reloadConfig(),
        onError: (err) => log.error({ err, file }, `config watcher failed, watching again: ${describe(err)}`),
        onRecovered: () => void this.reloadConfig(),
      })
    }
    await Promise.all([this.pluginWatcher.ready, this.configWatcher?.ready])
  }

  /** Read the config file again and apply what can change live; a bad file keeps the old config. */
  reloadConfig(): Promise<ConfigReload> {
    const run = async (): Promise<ConfigReload> => {
      const log = this.server.log
      const prev = this.server.config
      let next: EnetConfig
      try {
        next = (await loadConfig(this.loadOptions())).config
      } catch (error) {
        log.error({ file: this.configFile, err: error }, `config reload failed, keeping the running config: ${describe(error)}`)
        return this.configEvent({ outcome: 'failed', changed: [], restartNeeded: [], error: error as Error })
      }
      const { changed } = diffConfig(prev, next)
      const restartNeeded = this.server.reconfigure(next)
      try {
        await this.plugins.applyConfig(prev, this.server.config)
        this.retargetWatcher(prev, this.server.config)
        this.retargetCertWatcher()
      } catch (error) {
        // Limits are already live; a plugin that failed keeps its old version (the host logged it).
        log.error({ file: this.configFile, changed, err: error }, `config reload: applying plugin changes failed: ${describe(error)}`)
        return this.configEvent({ outcome: 'failed', changed, restartNeeded, error: error as Error })
      }
      if (restartNeeded.length) log.warn({ keys: restartNeeded }, `config: ${restartNeeded.join(', ')} changed; needs a restart to apply`)
      log.info({ changed, restartNeeded }, 'config reloaded')
      return this.configEvent({ outcome: 'applied', changed, restartNeeded })
    }
    // One reload at a time; a save during a reload is read by the next one.
    const p = (this.reloading ?? Promise.resolve()).then(run, run)
    this.reloading = p
    return p
  }

  private configEvent(e: ConfigReload): ConfigReload {
    callHook(this.server.hooks, 'onConfigEvent', this.server.log, e)
    return e
  }

  private retargetWatcher(prev: EnetConfig, next: EnetConfig): void {
    if (!this.pluginWatcher) return
    const gone = prev.plugins.dirs.filter((d) => !next.plugins.dirs.includes(d))
    const added = next.plugins.dirs.filter((d) => !prev.plugins.dirs.includes(d))
    if (gone.length) this.pluginWatcher.unwatch(gone)
    if (added.length) {
      this.pluginWatcher.add(added)
      // chokidar takes what it finds while scanning an added folder as already
      // there (ignoreInitial): a plugin dropped in meanwhile is caught by a rescan.
      clearTimeout(this.rescan)
      this.rescan = setTimeout(() => void this.plugins.loadNew(this.server.config.plugins.dirs), RESCAN_MS).unref()
    }
  }

  /**
   * TLS certificate files, watched on their own switch (tls.watch), not
   * plugins.watch: a production server that pins its plugins still rotates
   * its certificate. One settle for a save of cert and key together.
   */
  private async watchCertificate(): Promise<void> {
    const { tls } = this.server.config
    if (!tls.enabled || !tls.watch) return
    const DebouncedWatcher = await loadWatcher()
    if (this.closed) return
    this.certFiles = certFilesOf(tls)
    const files = () => this.certFiles
    const log = this.server.log
    // Their folders, filtered to the files: a renewal renames new files (or
    // symlinks, as certbot's live/ folder does) over them.
    this.certWatcher = new DebouncedWatcher(foldersOf(this.certFiles), {
      ...this.timing(),
      depth: 0,
      ignore: (p) => !files().includes(p) && !foldersOf(files()).includes(p),
      keyOf: (p) => (files().includes(p) ? 'tls' : null),
      present: () => files().every((f) => existsSync(f)),
      onSettled: () => void this.server.reloadCertificate(),
      onError: (err) => log.error({ err, files: files() }, `certificate watcher failed, watching again: ${describe(err)}`),
      onRecovered: () => void this.server.reloadCertificate(),
    })
    await this.certWatcher.ready
  }

  private retargetCertWatcher(): void {
    if (!this.certWatcher) return
    const before = foldersOf(this.certFiles)
    this.certFiles = certFilesOf(this.server.config.tls)
    const after = foldersOf(this.certFiles)
    const gone = before.filter((d) => !after.includes(d))
    const added = after.filter((d) => !before.includes(d))
    if (gone.length) this.certWatcher.unwatch(gone)
    if (added.length) this.certWatcher.add(added)
  }

  private loadOptions(): LoadOptions {
    return { ...this.opts, file: this.configFile ?? this.opts.file }
  }

  async openAdmin(): Promise<void> {
    const path = this.server.config.admin.socket
    if (path === false) return
    this.admin = new AdminSocket(path, this.server.log, localAdmin(this.server, this.plugins, () => this.status()))
    await this.admin.listen()
  }

  /**
   * With `http` configured: start counting (before the plugins load, so their
   * first loads are counted too). Loaded on demand: a server without the
   * listener never loads prom-client and taps no hook for it.
   */
  async observe(): Promise<void> {
    if (this.server.config.http === undefined || this.observatory) return
    const { Observatory } = await import('./observe/observatory.ts')
    this.observatory = new Observatory(this.server, this.plugins)
  }

  async openHttp(): Promise<void> {
    const http = this.server.config.http
    if (http === undefined) return
    await this.observe()
    await this.observatory!.listen(http)
  }

  /** What `enet status` and GET /status show. */
  status(): Status {
    return this.observatory?.status() ?? statusSnapshot(this.server, this.plugins)
  }

  async close(): Promise<void> {
    // The server stops accepting in this same tick; watchers close meanwhile.
    this.closed = true
    const closing = this.server.close()
    clearTimeout(this.rescan)
    await Promise.all([this.pluginWatcher?.close(), this.configWatcher?.close(), this.certWatcher?.close(), this.admin?.close(), this.observatory?.close(), stopTranspiler()])
    await closing
  }
}

function certFilesOf(tls: EnetConfig['tls']): string[] {
  return [tls.cert, tls.key, tls.ca].filter((f): f is string => f !== undefined)
}

const foldersOf = (files: string[]) => [...new Set(files.map((f) => dirname(f)))]

/**
 * chokidar is loaded only by an app that watches: an embedded server
 * (createServer) or one started with --no-watch never pays its memory.
 */
async function loadWatcher(): Promise<typeof DebouncedWatcher> {
  return (await import('./plugin/watcher.ts')).DebouncedWatcher
}

/** The plugin folder a changed path belongs to, or null. */
export function pluginFolderOf(path: string, dirs: string[]): string | null {
  for (const root of dirs) {
    const rel = relative(root, path)
    if (rel === '' || rel.startsWith('..')) continue
    const first = rel.split(sep)[0]!
    if (first.startsWith('.') || first === 'node_modules') return null
    return join(root, first)
  }
  return null
}

export async function startApp(opts: AppOptions = {}): Promise<App> {
  const { config, file } = await loadConfig(opts)
  const server = new Server(config, { logStream: opts.logStream })
  const app = new App(server, new PluginHost(server, { cluster: opts.cluster }), file, opts)
  try {
    await app.observe()
    await app.plugins.loadAll()
    await server.listen()
    await app.openAdmin()
    if (opts.serveHttp !== false) await app.openHttp()
    await app.watch()
  } catch (err) {
    await app.close()
    throw err
  }
  return app
}
