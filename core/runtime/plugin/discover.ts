// Finding plugin folders and checking what a plugin module exports, before
// the host runs any of it.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { EnetError, describe } from '../../errors.ts'
import type { PluginDefinition } from '../../types.ts'

const ENTRY_FILES = ['index.ts', 'index.mts', 'index.js', 'index.mjs']
const NAME = /^[a-z0-9][a-z0-9._-]*$/i

/** A load failure with the file it came from (the host logs both). */
export class PluginFailure extends Error {
  constructor(
    readonly error: EnetError,
    readonly file: string,
  ) {
    super(error.message)
  }
}

export function entryFile(dir: string): string | null {
  for (const f of ENTRY_FILES) {
    const file = join(dir, f)
    if (existsSync(file)) return file
  }
  return null
}

/**
 * Folders with an entry file in the given plugin dirs. What cannot be read (a
 * dir that is a file, a broken link, no permission) is skipped: it holds no
 * plugin, and a scan runs inside a live server.
 */
export function scanPluginDirs(dirs: string[]): string[] {
  const out: string[] = []
  for (const root of dirs) {
    let names: string[]
    try {
      names = readdirSync(root).sort()
    } catch {
      continue
    }
    for (const name of names) {
      const dir = join(root, name)
      if (!name.startsWith('.') && name !== 'node_modules' && isDirectory(dir) && entryFile(dir)) out.push(dir)
    }
  }
  return out
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** The first line of an error, and where it points when the next line is a `file:line:col` (jiti's parse errors). */
export function firstLine(err: unknown): string {
  const [first = '', second = ''] = describe(err).split('\n')
  const at = /\S+:\d+:\d+$/.exec(second.trim())
  return at ? `${first.trimEnd()} (${at[0]})` : first
}

export function validateDefinition(def: unknown, dirName: string, file: string): asserts def is PluginDefinition {
  const bad = (what: string) => new PluginFailure(new EnetError('ENET_ERR_PLUGIN_INVALID', [dirName, file, what]), file)
  if (typeof def !== 'object' || def === null) throw bad(`default export must be definePlugin({...}) or a plain object, got ${def === null ? 'null' : typeof def}`)
  const d = def as Record<string, unknown>
  if (typeof d.name !== 'string' || !NAME.test(d.name)) throw bad(`name must be a string of letters, digits, ".", "_" or "-", got ${JSON.stringify(d.name)}`)
  if (d.routes !== undefined && typeof d.routes !== 'object' && typeof d.routes !== 'function') throw bad('routes must be an object or a function of ctx')
  if (d.middleware !== undefined && !(Array.isArray(d.middleware) && d.middleware.every((m) => typeof m === 'function'))) throw bad('middleware must be an array of functions (req, next)')
  for (const k of ['setup', 'dispose'] as const) if (d[k] !== undefined && typeof d[k] !== 'function') throw bad(`${k} must be a function`)
  if (d.options !== undefined && (typeof d.options !== 'object' || d.options === null)) throw bad('options must be an object of defaults')
  if (d.dependencies !== undefined && !(Array.isArray(d.dependencies) && d.dependencies.every((x) => typeof x === 'string'))) throw bad('dependencies must be an array of plugin names')
}

/** Dependencies first; a cycle or a missing dependency is left to fail at activation. */
export function orderByDependencies<T extends { def: PluginDefinition }>(items: T[]): T[] {
  const byName = new Map(items.map((i) => [i.def.name, i]))
  const out: T[] = []
  const state = new Map<string, 'visiting' | 'done'>()
  const visit = (i: T) => {
    const s = state.get(i.def.name)
    if (s) return
    state.set(i.def.name, 'visiting')
    for (const dep of i.def.dependencies ?? []) {
      const d = byName.get(dep)
      if (d) visit(d)
    }
    state.set(i.def.name, 'done')
    out.push(i)
  }
  for (const i of items) visit(i)
  return out
}

/** What a default value says about the options a user may give in its place. */
function kindOf(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v
}

/**
 * The config's options for a plugin, checked against the defaults it
 * declares: an unknown key (a typo) or a value of another type than the
 * default is refused, naming the key. A default of undefined or null takes
 * anything (the plugin checks it); a plugin that declares no options takes
 * whatever it is given.
 */
export function checkOptions(name: string, defaults: Record<string, unknown> | undefined, given: Record<string, unknown> | undefined): string | null {
  if (defaults === undefined || given === undefined) return null
  const known = Object.keys(defaults)
  for (const [key, value] of Object.entries(given)) {
    const at = `plugins.options.${name}.${key}`
    if (!Object.hasOwn(defaults, key)) return `${at}: unknown option; ${name} takes ${known.length ? known.join(', ') : 'no options'}`
    const want = kindOf(defaults[key])
    if (want === 'undefined' || want === 'null') continue
    const got = kindOf(value)
    if (got !== want) return `${at}: expected ${want}, got ${got}`
    if (want === 'number' && !Number.isFinite(value)) return `${at}: expected a finite number, got ${String(value)}`
  }
  return null
}
