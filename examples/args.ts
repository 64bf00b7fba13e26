// Small helpers the example programs share.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { splitHostPort, type HostPort } from '../core/wire/address.ts'

/** True when this module is the program being run (`node bin/run.mjs examples/x.ts`). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1]
  return entry !== undefined && resolve(entry) === fileURLToPath(moduleUrl)
}

/** HOST:PORT from a flag, or an error naming it. */
export function parseHostPort(value: string, what: string): HostPort {
  const at = splitHostPort(value)
  if (!at?.host) throw new Error(`${what}: expected HOST:PORT, got "${value}"`)
  return at
}
