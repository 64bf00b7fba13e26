// One way to load user TypeScript (config, plugins): jiti without a module
// cache, so an edited file is read again, and with `enet` mapped to the
// running core so user code never gets a second copy of it.
import { createJiti, type Jiti } from 'jiti'
import { privateCacheDir } from './cache-dir.ts'

let loader: Jiti | undefined

export async function userLoader(): Promise<Jiti> {
  if (loader) return loader
  const core = { ...(await import('../index.ts')) }
  return (loader ??= createJiti(import.meta.url, {
    moduleCache: false,
    // Transpiled sources are cached by content hash: a reload of an unchanged
    // file skips babel, an edited file gets a new hash. Never in a shared
    // temporary folder (cache-dir.ts).
    fsCache: privateCacheDir().dir,
    virtualModules: { enet: core, '@enetjs/enet': core },
  }))
}

/** Import a TypeScript/JavaScript file fresh from disk; returns its default export or the module. */
export async function importFresh(file: string): Promise<unknown> {
  const jiti = await userLoader()
  const mod = (await jiti.import(file)) as { default?: unknown }
  return mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod
}
