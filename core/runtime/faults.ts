// The process's last line: errors nobody caught. One that a plugin version's
// code raised (its fault scope says which, scope.ts) is that plugin's fault:
// contained and supervised, and the server keeps serving. Any other follows
// Node's fail-fast rule: the process is in an unknown state, so log it,
// drain what can be drained, exit non-zero. `enet start` installs this;
// an app embedding enet may call it for its own App.
import type { App } from './app.ts'
import { currentOwner } from './plugin/scope.ts'

/** How long the drain after an unattributable error may take beyond limits.drainTimeoutMs. */
const FATAL_GRACE_MS = 1_500

export interface SuperviseOptions {
  /** Called once the drain after an unattributable error ends (default: process.exit). */
  exit?: (code: number) => void
}

/** Install uncaughtException/unhandledRejection handlers for `app()` (null before it has started); returns the uninstaller. */
export function superviseProcess(app: () => App | null, opts: SuperviseOptions = {}): () => void {
  const exit = opts.exit ?? ((code: number) => process.exit(code))
  let dying = false
  const fatal = (err: unknown, origin: string) => {
    const a = app()
    if (dying || a === null) {
      // Before the server runs there is nothing to drain; a second error while draining ends it now.
      process.stderr.write(`enet: ${origin} outside any plugin: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      return exit(1)
    }
    dying = true
    a.server.log.fatal({ err, origin }, `${origin} outside any plugin: stopping (exit 1)`)
    const ms = a.server.config.limits.drainTimeoutMs + FATAL_GRACE_MS
    const hard = setTimeout(() => exit(1), ms)
    hard.unref()
    void a.close().finally(() => {
      clearTimeout(hard)
      exit(1)
    })
  }
  const onError = (err: unknown, origin: 'uncaughtException' | 'unhandledRejection') => {
    const owner = currentOwner()
    if (owner !== undefined && !dying) {
      try {
        return owner.fault(err, origin === 'unhandledRejection' ? 'rejection' : 'uncaught')
      } catch (inner) {
        err = new AggregateError([err, inner], `containing a fault of plugin ${owner.name} failed`)
      }
    }
    fatal(err, origin)
  }
  const onException = (err: Error) => onError(err, 'uncaughtException')
  const onRejection = (reason: unknown) => onError(reason, 'unhandledRejection')
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}
