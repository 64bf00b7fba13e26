// What a plugin folder holds, as one string: each file's path, size, mtime and
// inode. Watcher events come in several per change (a new folder reports the
// folder, then each file once its write finished); a folder whose fingerprint
// is the one last loaded has nothing new to load.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** Past this many entries the folder is not a plugin someone edits by hand: always "changed". */
const MAX_ENTRIES = 10_000

export function fingerprint(dir: string): string | null {
  const parts: string[] = []
  const walk = (rel: string): boolean => {
    let names: string[]
    try {
      names = readdirSync(join(dir, rel)).sort()
    } catch {
      return true
    }
    for (const name of names) {
      if (name.startsWith('.') || name === 'node_modules') continue
      if (parts.length >= MAX_ENTRIES) return false
      const path = rel ? `${rel}/${name}` : name
      let st
      try {
        st = statSync(join(dir, path))
      } catch {
        continue
      }
      if (st.isDirectory()) {
        if (!walk(path)) return false
      } else parts.push(`${path}:${st.size}:${st.mtimeMs}:${st.ino}`)
    }
    return true
  }
  return walk('') ? parts.join('\n') : null
}
