// Finding and loading enet.config.ts, then layering env vars and CLI flags.
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { envPatch, mergeConfig, resolveConfig, withHttpToken, type ConfigPatch, type EnetConfig } from '../config.ts'
import { withTimeout } from '../engine/deadline.ts'
import { EnetError, describe } from '../errors.ts'
import { importFresh, transpileAhead } from './loader.ts'
import { bundledFolders } from './plugin/bundled.ts'

export const DEFAULT_CONFIG_FILE = 'enet.config.ts'

export interface LoadOptions {
  /** Explicit file; a missing one is an error. Without it, ./enet.config.ts if present. */
  file?: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  /** From CLI flags; wins over env and file. */
  flags?: ConfigPatch
  /** How long the file's import and its config function may take; default CONFIG_LOAD_TIMEOUT_MS. */
  loadTimeoutMs?: number
}

/** A config that has not loaded in this long (a function awaiting something that never comes) is an error. */
export const CONFIG_LOAD_TIMEOUT_MS = 10_000

export interface LoadedConfig {
  config: EnetConfig
  file: string | null
}

export function findConfigFile(opts: LoadOptions): string | null {
  const cwd = opts.cwd ?? process.cwd()
  if (opts.file) {
    const file = resolve(cwd, opts.file)
    if (!existsSync(file)) throw new EnetError('ENET_ERR_CONFIG_LOAD', [file, 'no such file'])
    return file
  }
  const file = resolve(cwd, DEFAULT_CONFIG_FILE)
  return existsSync(file) ? file : null
}

export async function loadConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const env = opts.env ?? process.env
  const file = findConfigFile(opts)
  let raw: unknown = {}
  if (file) {
    try {
      const ms = opts.loadTimeoutMs ?? CONFIG_LOAD_TIMEOUT_MS
      await transpileAhead(file)
      raw = await withTimeout(
        (async () => {
          const mod = await importFresh(file)
          return typeof mod === 'function' ? await (mod as (e: NodeJS.ProcessEnv) => unknown)(env) : mod
        })(),
        ms,
        () => new Error(`did not finish loading within ${ms} ms (a config function that never resolves?)`),
      )
    } catch (err) {
      throw new EnetError('ENET_ERR_CONFIG_LOAD', [file, describe(err).split('\n')[0]], { cause: err })
    }
    if (typeof raw !== 'object' || raw === null) throw new EnetError('ENET_ERR_CONFIG', [`${file}: expected the default export to be an object or a function returning one, got ${raw === null ? 'null' : typeof raw}`])
  }
  const merged = withHttpToken(mergeConfig(mergeConfig(raw, envPatch(env)), opts.flags ?? {}), env)
  const config = resolveConfig(merged, file ?? 'config')
  // Plugin dirs and TLS files are relative to the config file (or the cwd without one).
  const base = file ? resolve(file, '..') : (opts.cwd ?? process.cwd())
  const admin = { socket: config.admin.socket === false ? (false as const) : resolve(base, config.admin.socket) }
  const dirs = config.plugins.dirs.map((d) => resolve(base, d))
  dirs.forEach((d, i) => {
    // A missing folder is fine (it may be made later); a file is a mistake.
    if (existsSync(d) && !statSync(d).isDirectory()) throw new EnetError('ENET_ERR_CONFIG', [`plugins.dirs[${i}]: expected a folder, got the file ${d}`])
  })
  bundledFolders(config.plugins.bundled)
  const tls = { ...config.tls }
  for (const k of ['cert', 'key', 'ca'] as const) if (tls[k] !== undefined) tls[k] = resolve(base, tls[k])
  return { config: { ...config, admin, tls, plugins: { ...config.plugins, dirs } }, file }
}
