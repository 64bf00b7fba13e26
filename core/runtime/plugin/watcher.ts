// File watching (chokidar) folded into one callback per save. Editors save in
// many ways — chunked writes, write-then-rename, delete-then-recreate — and
// each must cause exactly one reload, after the file is complete:
// - awaitWriteFinish holds an event until the file's size stops changing;
// - events are grouped by key (a plugin folder, the config file) and settle
//   after `debounceMs` of quiet;
// - a key whose file is gone waits `removeGraceMs` more before it counts as
//   removed, so delete-then-recreate is one change, not an unload and a load.
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
  debounceMs: number
  removeGraceMs: number
  stabilityMs: number
}

export class DebouncedWatcher {
  private readonly watcher: FSWatcher
  private readonly timers = new Map<string, NodeJS.Timeout>()
  /** Per key, files whose last event was an unlink. */
  private readonly unlinked = new Map<string, Set<string>>()
  readonly ready: Promise<void>

  constructor(
    paths: string[],
    private readonly opts: DebouncedWatchOptions,
  ) {
    this.watcher = watch(paths, {
      ignoreInitial: true,
      ignored: (p: string) => /(^|[/\\])(node_modules|\.git)([/\\]|$)/.test(p),
      awaitWriteFinish: { stabilityThreshold: opts.stabilityMs, pollInterval: Math.max(10, Math.floor(opts.stabilityMs / 4)) },
    })
    this.watcher.on('all', (event, path) => {
      const key = opts.keyOf(path)
      if (key === null) return
      let gone = this.unlinked.get(key)
      if (event === 'unlink') {
        if (gone === undefined) this.unlinked.set(key, (gone = new Set()))
        gone.add(path)
      } else gone?.delete(path)
      opts.onEvent?.(key, path, event)
      this.schedule(key, opts.debounceMs, false)
    })
    this.watcher.on('error', () => {})
    this.ready = new Promise((resolve) => this.watcher.once('ready', () => resolve()))
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
    this.watcher.add(paths)
  }

  unwatch(paths: string[]): void {
    this.watcher.unwatch(paths)
  }

  async close(): Promise<void> {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    this.unlinked.clear()
    await this.watcher.close()
  }
}
