// One way to load user TypeScript (config, plugins): jiti without a module
// cache, so an edited file is read again, and with `enet` mapped to the
// running core so user code never gets a second copy of it. A worker thread
// transpiles first (transpiler.ts), so babel does not block the event loop.
import type { Jiti } from 'jiti'
import { join } from 'node:path'
import { privateCacheDir } from './cache-dir.ts'
import { TRANSFORMS, Transpiler } from './transpiler.ts'

let loader: Promise<Jiti> | undefined
let transpiler: Transpiler | null | undefined

export function userLoader(): Promise<Jiti> {
  // jiti (and, through it, babel) is loaded on first use: a server with no
  // config file and no plugins never pays for it.
  return (loader ??= (async () => {
    const [{ createJiti }, core] = await Promise.all([import('jiti'), import('../index.ts')])
    const api = { ...core }
    return createJiti(import.meta.url, {
      moduleCache: false,
      // Transpiled sources are cached by content hash: a reload of an unchanged
      // file skips babel, an edited file gets a new hash. Never in a shared
      // temporary folder (cache-dir.ts).
      fsCache: cacheDir(),
      virtualModules: { enet: api, '@enetjs/enet': api },
    })
  })())
}

let dir: string | false | undefined
/** The folder of jiti's cache, shared by the main thread and the worker: the private folder's subfolder for the transforms in use. */
export function cacheDir(): string | false {
  if (dir === undefined) {
    const d = privateCacheDir().dir
    dir = d === false ? false : join(d, TRANSFORMS)
  }
  return dir
}

/** The worker that fills jiti's cache; none when the cache is off or ENET_TRANSPILE_WORKER=0. */
function worker(): Transpiler | null {
  if (transpiler !== undefined) return transpiler
  const d = cacheDir()
  transpiler = d === false || process.env.ENET_TRANSPILE_WORKER === '0' ? null : new Transpiler(d)
  return transpiler
}

/**
 * Transpile `file` (and the local TypeScript it imports) into the cache in the
 * worker, so that importFresh finds it there. Never rejects. A caller that
 * puts a deadline on loading awaits this first: the deadline is for the
 * file's own code, as it was when babel ran synchronously on this thread.
 */
export async function transpileAhead(file: string): Promise<void> {
  await worker()?.warm(file)
}

/** Import a TypeScript/JavaScript file fresh from disk; returns its default export or the module. */
export async function importFresh(file: string): Promise<unknown> {
  const [jiti] = await Promise.all([userLoader(), transpileAhead(file)])
  const mod = (await jiti.import(file)) as { default?: unknown }
  return mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod
}

/** Let the transpiling worker go now (it also exits by itself when idle). */
export async function stopTranspiler(): Promise<void> {
  await transpiler?.stop()
}
