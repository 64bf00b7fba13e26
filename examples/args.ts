// Small helpers the example programs share.
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** True when this module is the program being run (`node bin/run.mjs examples/x.ts`). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1]
  return entry !== undefined && resolve(entry) === fileURLToPath(moduleUrl)
}

export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:/\[\]]+)):(\d{1,5})$/.exec(value)
  const port = m ? Number(m[3]) : NaN
  if (!m || port > 65535) throw new Error(`${what}: expected HOST:PORT, got "${value}"`)
  return { host: m[1] ?? m[2]!, port }
}
