// A promise with a deadline: plugin setup, config loading. The timer is
// cleared when the promise settles first, so nothing is left to keep the
// process alive.

/** `p`, or a rejection with `onTimeout()` after `ms`. `p` itself is not cancelled. */
export function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms)
    p.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })
}
