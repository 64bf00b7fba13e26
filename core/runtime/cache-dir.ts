// Where jiti may keep transpiled config and plugins (its fsCache). Left to
// itself jiti writes them to os.tmpdir()/jiti: on a shared machine any local
// user could read them (a config holds secrets) or plant a file under the
// name the next load reads (code run as the server). So the cache goes to a
// private folder (private-dir.ts), or is off. One function, so whatever
// transpiles (the main thread or a worker) makes the same decision.
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { ensurePrivateDir } from './private-dir.ts'

export interface CacheDirOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
}

/** jiti's fsCache value: a private folder, or false (`why` says which, and why). */
export function privateCacheDir(opts: CacheDirOptions = {}): { dir: string | false; why: string } {
  const env = opts.env ?? process.env
  if (env.ENET_CACHE === '0' || env.ENET_CACHE === 'off') return { dir: false, why: 'ENET_CACHE is off' }
  const dir = candidate(opts.cwd ?? process.cwd(), env)
  if (dir === null) return { dir: false, why: 'no project node_modules, $XDG_CACHE_HOME or home folder' }
  const problem = ensurePrivateDir(dir)
  return problem === null ? { dir, why: 'private' } : { dir: false, why: `${dir}: ${problem}` }
}

/** The project's node_modules/.cache/enet, else $XDG_CACHE_HOME/enet, else ~/.cache/enet. */
function candidate(cwd: string, env: NodeJS.ProcessEnv): string | null {
  const modules = join(cwd, 'node_modules')
  if (existsSync(modules)) return join(modules, '.cache', 'enet')
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'enet')
  let home = env.HOME
  try {
    home ??= homedir()
  } catch {}
  return home ? join(home, '.cache', 'enet') : null
}
