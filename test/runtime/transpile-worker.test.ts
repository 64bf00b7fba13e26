// The transpiling worker's two transforms (core/runtime/transpile-worker.cjs):
// sucrase where it gives what jiti's babel gives, babel for the rest. Each
// case is a real plugin folder loaded through the loader (worker, cache,
// jiti), its values checked, and its cache entry read to see which of the two
// wrote it: sucrase keeps an import's quotes and writes `{value: true}`,
// babel writes `{ value: true }` and double quotes.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { privateCacheDir } from '../../core/runtime/cache-dir.ts'
import { importFresh, stopTranspiler } from '../../core/runtime/loader.ts'

const { babelOnly } = createRequire(import.meta.url)('../../core/runtime/transpile-worker.cjs') as { babelOnly(source: string): string | null }

const root = mkdtempSync(join(tmpdir(), 'enet-transform-'))
afterAll(async () => {
  await stopTranspiler()
  rmSync(root, { recursive: true, force: true })
})
const tag = `t${process.pid}x${Date.now()}`

/** Write `files` (relative path → text) under a new folder; returns the folder. */
function folder(name: string, files: Record<string, string>): string {
  const dir = join(root, `${tag}-${name}`)
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true })
    writeFileSync(join(dir, rel), text)
  }
  return dir
}

/** Which transform wrote the cache entry of `dir`/`file` (jiti names it folder-file.hash.mjs). */
function writer(dir: string, file = 'index'): 'sucrase' | 'babel' {
  const cache = privateCacheDir().dir as string
  const entry = readdirSync(cache).find((f) => f.startsWith(`${dir.split('/').pop()}-${file}.`))
  if (!entry) throw new Error(`no cache entry for ${dir}/${file}`)
  const code = readFileSync(join(cache, entry), 'utf8')
  if (code.includes('"__esModule", {value: true}')) return 'sucrase'
  if (code.includes('"__esModule", { value: true }')) return 'babel'
  throw new Error(`cache entry ${entry} is neither transform's:\n${code.slice(0, 200)}`)
}

const load = async (dir: string) => (await importFresh(join(dir, 'index.ts'))) as Record<string, unknown>

describe('which transform a file gets', () => {
  it('sucrase for a plugin of imports first, then code', () => {
    expect(babelOnly(`// a plugin\n/* more */\nimport { definePlugin } from 'enet'\nimport {\n  a,\n  type B,\n} from './a.ts'\nexport * from './b.ts'\nexport { c as d } from './c.ts'\n\nexport default definePlugin({ name: 'p' })\n`)).toBeNull()
    expect(babelOnly(`import x, { y } from "x";import * as ns from 'ns';\nimport 'side'\nconst z = 1\n`)).toBeNull()
  })

  it('babel for CommonJS, import.meta, import(), namespaces, and imports after code', () => {
    expect(babelOnly(`const fs = require('node:fs')`)).toBe('uses require')
    expect(babelOnly(`import x = require('x')`)).toBe('uses require')
    expect(babelOnly(`const a = 1\nexport = a`)).toMatch(/export\s*=/)
    expect(babelOnly(`export const u = import.meta.url`)).toMatch(/import\.meta/)
    expect(babelOnly(`export const m = () => import('./m.ts')`)).toMatch(/import\(/)
    expect(babelOnly(`namespace N { export const a = 1 }`)).toBe('uses namespace')
    expect(babelOnly(`declare global { var x: number }`)).toMatch(/declare global/)
    expect(babelOnly(`import a from './a.ts'\nconsole.log(a)\nimport b from './b.ts'\n`)).toBe('an import after code')
    expect(babelOnly(`const a = 1; export { b } from './b.ts'`)).toBe('an import after code')
    expect(babelOnly(`f(); import 'side'`)).toBe('an import after code')
  })
})

describe('the same module either way', () => {
  it('a plugin of TypeScript (enum, parameter properties, class fields, export *) through sucrase', async () => {
    const dir = folder('ts', {
      'index.ts': `import { definePlugin } from 'enet'
import def, { named, type Shape } from './lib.ts'
export * from './more.ts'
enum Color { Red = 1, Green }
class Box { declare hidden: number; size = 2; constructor(public label: string) {} }
const shape: Shape = { sides: 4 }
export const values = [Color.Green, new Box('b').label, new Box('b').size, Object.keys(new Box('c')), def, named(), shape.sides]
export default definePlugin({ name: '${tag}-ts' })
`,
      'lib.ts': `export interface Shape { sides: number }\nexport function named(): string { return 'named' }\nexport default 'def' as const\n`,
      'more.ts': `export const more = 'more'\n`,
    })
    const mod = await load(dir)
    expect(mod).toMatchObject({ name: `${tag}-ts` })
    const ns = (await (await import('../../core/runtime/loader.ts')).userLoader()).import(join(dir, 'index.ts')) as Promise<Record<string, unknown>>
    const all = await ns
    expect(all.values).toEqual([2, 'b', 2, ['size', 'label'], 'def', 'named', 4])
    expect(all.more).toBe('more')
    expect(writer(dir)).toBe('sucrase')
    expect(writer(dir, 'lib')).toBe('sucrase')
  })

  it('a local import with top-level await, and an ESM-only package, load through sucrase as through babel', async () => {
    const dir = folder('esm', {
      'index.ts': `import { definePlugin } from 'enet'
import { ready } from './slow.ts'
import esmOnly from 'esm-only'
export default definePlugin({ name: '${tag}-esm', options: { ready, esmOnly } })
`,
      'slow.ts': `export const ready: string = await new Promise((r) => setTimeout(() => r('awaited'), 5))\n`,
      'node_modules/esm-only/package.json': JSON.stringify({ name: 'esm-only', type: 'module', exports: { import: './index.js' } }),
      'node_modules/esm-only/index.js': `const v = await Promise.resolve('esm-only')\nexport default v\n`,
    })
    expect(await load(dir)).toMatchObject({ name: `${tag}-esm`, options: { ready: 'awaited', esmOnly: 'esm-only' } })
    expect(writer(dir)).toBe('sucrase')
  })

  it('a default import of a CommonJS package is its module.exports, as with babel', async () => {
    const dir = folder('cjs', {
      'index.ts': `import { definePlugin } from 'enet'\nimport cjs, { named } from 'cjs-pkg'\nexport default definePlugin({ name: '${tag}-cjs', options: { cjs, named } })\n`,
      'node_modules/cjs-pkg/package.json': JSON.stringify({ name: 'cjs-pkg', main: 'index.js' }),
      'node_modules/cjs-pkg/index.js': `module.exports = { named: 'n', other: 1 }\n`,
    })
    expect(await load(dir)).toMatchObject({ options: { cjs: { named: 'n', other: 1 }, named: 'n' } })
    expect(writer(dir)).toBe('sucrase')
  })

  it('import.meta and a decorator go to babel, and work', async () => {
    const dir = folder('babel', {
      'index.ts': `import { definePlugin } from 'enet'
const tagged: string[] = []
function mark(c: { name: string }) { tagged.push(c.name) }
@mark class Marked {}
export default definePlugin({ name: '${tag}-babel', options: { url: import.meta.url, tagged, marked: new Marked() instanceof Marked } })
`,
    })
    expect(await load(dir)).toMatchObject({ options: { url: `file://${join(dir, 'index.ts')}`, tagged: ['Marked'], marked: true } })
    expect(writer(dir)).toBe('babel')
  })

  it('a decorator that the source check misses is caught by compiling sucrase output, and goes to babel', async () => {
    // No word of BABEL_ONLY here: sucrase passes the decorator through, the compile fails.
    const dir = folder('deco', {
      'index.ts': `import { definePlugin } from 'enet'\nfunction d(c: unknown) { return c }\n@d class A {}\nexport default definePlugin({ name: '${tag}-deco', options: { a: typeof A } })\n`,
    })
    expect(await load(dir)).toMatchObject({ options: { a: 'function' } })
    expect(writer(dir)).toBe('babel')
  })
})
