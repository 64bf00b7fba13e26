// The one frozen object of tapable hooks (webpack lib/Compiler.js). No hook
// is created anywhere else. Hot paths test `hook.taps.length` before calling,
// so a hook nobody tapped costs one property read per message.
import { createRequire } from 'node:module'
import type * as tapable from 'tapable'
import type { CloseReason, Connection, Outcome, Request, ServerAddress } from './types.ts'

// Required, not imported: see core/engine/logger.ts (the export-name scan of a CommonJS package).
const require = createRequire(import.meta.url)
const { AsyncSeriesHook, SyncBailHook, SyncHook } = require('tapable') as typeof tapable

export interface PluginEvent {
  plugin: string
  from: string | null
  to: string | null
  /** `fault`: code of the version `from` threw or rejected outside any request; `restarted`: the supervisor set it up again. */
  outcome: 'loaded' | 'reloaded' | 'unloaded' | 'failed' | 'fault' | 'restarted'
  ms: number
  file?: string
  error?: Error
  /** Faults: where it escaped from (timer, interval, uncaught, rejection, dispose, restart) and the plugin's file:line. */
  site?: string
  at?: string
}

export interface ConfigEvent {
  outcome: 'applied' | 'failed'
  changed: string[]
  restartNeeded: string[]
  error?: Error
}

export function createHooks() {
  return Object.freeze({
    /** A connection (TCP socket or UDP peer session) has started. */
    onConnStart: new SyncHook<[Connection]>(['conn']),
    /** A connection has ended; fires exactly once per connection. */
    onConnStop: new SyncHook<[Connection, CloseReason]>(['conn', 'reason']),
    /** The heartbeat checker gave up on a connection; it is closed with reason not-alive right after (zinx OnRemoteNotAlive). */
    onRemoteNotAlive: new SyncHook<[Connection]>(['conn']),
    /** Bail: a tap that returns anything but undefined stops the request. */
    beforeHandle: new SyncBailHook<[Request], unknown>(['req']),
    afterHandle: new SyncHook<[Request, Outcome]>(['req', 'outcome']),
    /** A frame or datagram was dropped: unknown msgId, bad size, full queue, rate limit. */
    onDrop: new SyncHook<[{ reason: string; conn?: Connection; msgId?: number; remote?: string }]>(['drop']),
    onListen: new SyncHook<[ServerAddress]>(['address']),
    /** Before the server stops; async taps are awaited (flush, goodbye messages). */
    onClose: new AsyncSeriesHook<[]>([]),
    onPluginEvent: new SyncHook<[PluginEvent]>(['event']),
    onConfigEvent: new SyncHook<[ConfigEvent]>(['event']),
    /** Escape hatch for plugins that talk to each other: name and payload are theirs. */
    onPluginMessage: new SyncHook<[string, unknown]>(['topic', 'payload']),
  })
}

export type ServerHooks = ReturnType<typeof createHooks>
export type HookName = keyof ServerHooks
/** The hooks that only observe: their taps' results and errors never steer the caller. */
export type ObserverHook = Exclude<HookName, 'beforeHandle' | 'onClose'>

export interface HookLog {
  error(obj: object, msg: string): void
}

/**
 * Call an observer hook: no taps, nothing runs (one property read on the hot
 * path); a tap that throws is logged with the hook's name and never reaches
 * the caller, so one bad observer cannot fail a request or a reload.
 */
export function callHook<K extends ObserverHook>(hooks: ServerHooks, name: K, log: HookLog, ...args: Parameters<ServerHooks[K]['call']>): void {
  const hook = hooks[name] as { taps: unknown[]; call(...a: unknown[]): unknown }
  if (hook.taps.length === 0) return
  try {
    hook.call(...args)
  } catch (err) {
    log.error({ err, hook: name }, `${name} tap threw`)
  }
}
