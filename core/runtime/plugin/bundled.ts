// The plugins shipped in this package (heartbeat, locator, logging), turned on
// by name with `plugins.bundled`. The core learns their names from the folder,
// never from its own code: plugins/ sits beside core/ in the sources and
// dist/plugins beside dist/core once built, the same path from here.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EnetError } from '../../errors.ts'
import { entryFile } from './discover.ts'

export const BUNDLED_DIR = fileURLToPath(new URL('../../../plugins/', import.meta.url))

/** Names of the bundled plugins this package holds. */
export function bundledNames(): string[] {
  try {
    return readdirSync(BUNDLED_DIR).filter((name) => !name.startsWith('.') && entryFile(join(BUNDLED_DIR, name)) !== null).sort()
  } catch {
    return []
  }
}

/** The folders of the named bundled plugins; a name the package does not hold is a config error naming it. */
export function bundledFolders(names: readonly string[]): string[] {
  if (names.length === 0) return []
  const known = bundledNames()
  return names.map((name, i) => {
    if (!known.includes(name)) throw new EnetError('ENET_ERR_CONFIG', [`plugins.bundled[${i}]: no bundled plugin named "${name}" (bundled: ${known.join(', ') || 'none'})`])
    return join(BUNDLED_DIR, name)
  })
}
