// Waiting without sleeping: poll a condition, or hold a promise open until the test says so.

/** Resolves once `cond()` is truthy (or resolves truthy); rejects after `timeoutMs` naming what it waited for. */
export async function until(cond: () => unknown, timeoutMs = 2_000, what = cond.toString()): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`until: timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

export interface Deferred<T = void> {
  promise: Promise<T>
  resolve(value: T): void
  reject(err: unknown): void
  settled: boolean
}

/** A promise the test resolves by hand: a handler awaits it, the test releases it. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const d: Deferred<T> = {
    promise: new Promise<T>((res, rej) => {
      resolve = res
      reject = rej
    }),
    resolve: (v) => {
      d.settled = true
      resolve(v)
    },
    reject: (e) => {
      d.settled = true
      reject(e)
    },
    settled: false,
  }
  return d
}

/** Let pending I/O callbacks and microtasks run `n` times over (not a timed sleep). */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

/**
 * Started now, resolves with the ms a timer of `ms` took to fire in this
 * process. A deadline kept by the server (in the same process) is compared
 * with it, not with the wall clock: a loaded machine delays both alike.
 */
export function referenceTimer(ms: number): Promise<number> {
  const t0 = performance.now()
  return new Promise((resolve) => setTimeout(() => resolve(performance.now() - t0), ms))
}
