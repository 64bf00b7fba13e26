// A listener in a set for as long as the subscriber wants it: until the
// returned function is called or its signal aborts (a plugin version's
// ctx.signal), whichever comes first.

export function listen<F>(set: Set<F>, fn: F, signal?: AbortSignal): () => void {
  if (signal?.aborted) return () => {}
  set.add(fn)
  const off = () => {
    set.delete(fn)
    signal?.removeEventListener('abort', off)
  }
  signal?.addEventListener('abort', off, { once: true })
  return off
}
