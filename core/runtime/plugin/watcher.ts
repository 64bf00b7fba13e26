// File watching (chokidar) folded into one callback per save. Editors save in
// many ways — chunked writes, write-then-rename, delete-then-recreate — and
// each must cause exactly one reload, after the file is complete:
// - awaitWriteFinish holds an event until the file's size stops changing;
// - events are grouped by key (a plugin folder, the config file) and settle
//   after `debounceMs` of quiet;
// - a key whose file is gone waits `removeGraceMs` more before it counts as
//   removed, so delete-then-recreate is one change, not an unload and a load.
// Watch folders, not files: chokidar watching a file path loses it when an
// editor (or sed -i) renames a new file over it, silently, for good.
// A watcher that reports an error is replaced by a new one, and said so.
import { existsSync } from 'node:fs'
import { watch, type FSWatcher } from 'chokidar'

export interface DebouncedWatchOptions {
  /** Which key a changed path belongs to; null ignores it. */
  keyOf(path: string): string | null
  /** Whether the key's main file exists now (a missing one starts the grace period). */
  present(key: string): boolean
  onSettled(key: string): void
  /** Each event as it comes, before the debounce (to start work that the settled key will need). */
  onEvent?(key: string, path: string, event: string): void
  /** The watcher failed; a new one replaces it (after a backoff if it keeps failing). */
  onError?(err: unknown): void
  /** The replacement is watching: anything saved meanwhile went unseen. */
  onRecovered?(): void
  /** Paths to leave out beside node_modules and .git. */
  ignore?(path: string): boolean
  /** chokidar's depth: how far below the watched folders to look. */
  depth?: number
  debounceMs: number
  removeGraceMs: number
  stabilityMs: number
}

/** Replacement delays after repeated errors: 100 ms doubling to 10 s; a minute without errors starts over. */
const RETRY_MS = { first: 100, max: 10_000, calmAfter: 60_000 }

export class DebouncedWatcher {
  private watcher: FSWatcher
  private readonly paths: Set<string>
  private readonly timers = new Map<string, NodeJS.Timeout>()
  /** Per key, files whose last event was an unlink. */
  private readonly unlinked = new Map<string, Set<string>>()
  private failures = 0
  private lastFailure = 0
  private retry: NodeJS.Timeout | undefined = undefined
  private closed = false
  readonly ready: Promise<void>

  constructor(
    paths: string[],
    private readonly opts: DebouncedWatchOptions,
  ) {
    this.paths = new Set(paths)
    this.watcher = this.create()
    this.ready = ready(this.watcher)
  }

  private create(): FSWatcher {
    const { ignore, stabilityMs, depth } = this.opts
    const watcher = watch([...this.paths], {
      ignoreInitial: true,
      ignored: (p: string) => /(^|[/\\])(node_modules|\.git)([/\\]|$)/.test(p) || (ignore?.(p) ?? false),
      ...(depth !== undefined && { depth }),
      awaitWriteFinish: { stabilityThreshold: stabilityMs, pollInterval: Math.max(10, Math.floor(stabilityMs / 4)) },
    })
    watcher.on('all', (event, path) => {
      const key = this.opts.keyOf(path)
      if (key === null) return
      let gone = this.unlinked.get(key)
      if (event === 'unlink') {
        if (gone === undefined) this.unlinked.set(key, (gone = new Set()))
        gone.add(path)
      } else gone?.delete(path)
      this.opts.onEvent?.(key, path, event)
      this.schedule(key, this.opts.debounceMs, false)
    })
    watcher.on('error', (err) => this.failed(watcher, err))
    return watcher
  }

  /** One report per failed watcher; then a fresh one, later the more it fails. */
  private failed(watcher: FSWatcher, err: unknown): void {
    if (this.closed || watcher !== this.watcher || this.retry) return
    const now = Date.now()
    if (now - this.lastFailure > RETRY_MS.calmAfter) this.failures = 0
    this.lastFailure = now
    this.opts.onError?.(err)
    const delay = this.failures === 0 ? 0 : Math.min(RETRY_MS.max, RETRY_MS.first * 2 ** (this.failures - 1))
    this.failures++
    this.retry = setTimeout(() => {
      this.retry = undefined
      if (this.closed) return
      watcher.removeAllListeners()
      watcher.on('error', () => {})
      void watcher.close().catch(() => {})
      const next = (this.watcher = this.create())
      void ready(next).then(() => {
        if (!this.closed && next === this.watcher) this.opts.onRecovered?.()
      })
    }, delay)
    this.retry.unref()
  }

  private schedule(key: string, ms: number, graceOver: boolean): void {
    clearTimeout(this.timers.get(key))
    const timer = setTimeout(() => {
      this.timers.delete(key)
      if (!graceOver) {
        if (!this.opts.present(key)) return this.schedule(key, this.opts.removeGraceMs, true)
        // A deleted file is back, but chokidar holds its add until the write
        // finishes: that event settles the key (the grace is a fallback).
        for (const path of this.unlinked.get(key) ?? []) if (existsSync(path)) return this.schedule(key, this.opts.removeGraceMs, true)
      }
      this.unlinked.delete(key)
      this.opts.onSettled(key)
    }, ms)
    timer.unref()
    this.timers.set(key, timer)
  }

  add(paths: string[]): void {
    for (const p of paths) this.paths.add(p)
    this.watcher.add(paths)
  }

  unwatch(paths: string[]): void {
    for (const p of paths) this.paths.delete(p)
    this.watcher.unwatch(paths)
  }

  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.retry)
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    this.unlinked.clear()
    await this.watcher.close()
  }
}

const ready = (w: FSWatcher) => new Promise<void>((resolve) => w.once('ready', () => resolve()))
