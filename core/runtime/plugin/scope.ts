// Which plugin version is running. AsyncLocalStorage is entered around every
// call into plugin code (setup, routes, handlers, hook taps, ctx timers,
// dispose), and Node carries it into whatever that code starts: timers,
// sockets and their listeners, promises. So an error that escapes all of
// them to the process (uncaughtException, unhandledRejection) still names
// the version it came from (faults.ts).
import { AsyncLocalStorage } from 'node:async_hooks'

/** Where a fault escaped from. */
export type FaultSite = 'timer' | 'interval' | 'uncaught' | 'rejection' | 'dispose' | 'restart'

/** What the scope holds: a plugin version that can be told of its own faults. */
export interface FaultOwner {
  readonly name: string
  readonly n: number
  readonly file: string
  fault(err: unknown, site: FaultSite): void
}

const scope = new AsyncLocalStorage<FaultOwner>()

/** The plugin version whose code (or what it started) is running now, if any. */
export function currentOwner(): FaultOwner | undefined {
  return scope.getStore()
}

/** Run `fn` as code of `owner`. */
export function runAs<R>(owner: FaultOwner, fn: () => R): R {
  return scope.run(owner, fn)
}

/** `fn`, run as code of `owner` whoever calls it (a route handler, a hook tap). */
export function ownedBy<A extends unknown[], R>(owner: FaultOwner, fn: (...args: A) => R): (...args: A) => R {
  return (...args) => scope.run(owner, fn, ...args)
}
