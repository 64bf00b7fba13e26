// The transpiling worker's two transforms (core/runtime/transpile-worker.cjs):
// sucrase where it gives what jiti's babel gives, babel for the rest. Each
// case is a real plugin folder loaded through the loader (worker, cache,
// jiti), its values checked, and its cache entry read to see which of the two
// wrote it (the worker marks what sucrase wrote).
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { privateCacheDir } from '../../core/runtime/cache-dir.ts'
import { cacheDir, stopTranspiler, transpileAhead, userLoader } from '../../core/runtime/loader.ts'
import { SUCRASE } from '../../core/runtime/transpiler.ts'

const { babelOnly, SUCRASE_MARK } = createRequire(import.meta.url)('../../core/runtime/transpile-worker.cjs') as { babelOnly(source: string): string | null; SUCRASE_MARK: string }

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
function writer(dir: string, file = 'index', cache = cacheDir() as string): 'sucrase' | 'babel' {
  const entry = readdirSync(cache).find((f) => f.startsWith(`${dir.split('/').pop()}-${file}.`))
  if (!entry) throw new Error(`no cache entry for ${dir}/${file}`)
  const code = readFileSync(join(cache, entry), 'utf8')
  if (code.startsWith(SUCRASE_MARK)) return 'sucrase'
  if (code.includes('Object.defineProperty(exports, "__esModule"')) return 'babel'
  throw new Error(`cache entry ${entry} is neither transform's:\n${code.slice(0, 200)}`)
}

/** A folder's index.ts as the loader gets it: transformed in the worker first, then imported by jiti. */
async function load(dir: string): Promise<Record<string, unknown>> {
  const file = join(dir, 'index.ts')
  await transpileAhead(file)
  return (await (await userLoader()).import(file)) as Record<string, unknown>
}

describe('which transform a file gets', () => {
  it('sucrase for a file of imports first, then code, importing no local file', () => {
    expect(babelOnly(`// a plugin\n/* more */\nimport { definePlugin } from 'enet'\nimport {\n  a,\n  type B,\n} from 'pkg'\nexport { c as d } from 'pkg'\n\nexport default definePlugin({ name: 'p' })\n`)).toBeNull()
    expect(babelOnly(`import x, { y } from "x";import * as ns from 'ns';\nimport 'side'\nconst z = 1\n`)).toBeNull()
  })

  it('babel for what sucrase does not do as babel does', () => {
    expect(babelOnly(`const fs = require('node:fs')`)).toBe('CommonJS')
    expect(babelOnly(`import x = M.x`)).toBe('CommonJS')
    expect(babelOnly(`var exports = {}`)).toBe('CommonJS')
    expect(babelOnly(`const a = 1\nexport = a`)).toBe('CommonJS')
    expect(babelOnly(`export const u = import.meta.url`)).toBe('import.meta or import()')
    expect(babelOnly(`export const m = () => import('pkg')`)).toBe('import.meta or import()')
    expect(babelOnly(`namespace N { export const a = 1 }`)).toBe('a namespace')
    expect(babelOnly(`module Foo { export const a = 1 }`)).toBe('a namespace')
    expect(babelOnly(`declare global { var x: number }`)).toBe('a namespace')
    expect(babelOnly(`import { a } from './a.ts'`)).toBe('a local import')
    expect(babelOnly(`import '../side.ts'`)).toBe('a local import')
    expect(babelOnly(`const a = {}\ntype X = number\n;(globalThis as any).a = a`)).toBe('a line that continues the one before')
    expect(babelOnly(`const f = () => 1\ntype T = {}\n(() => f())()`)).toBe('a line that continues the one before')
    expect(babelOnly(`export * from 'pkg'`)).toBe('export * or a destructuring export')
    expect(babelOnly(`const d = { port: 1 }\nexport const { port } = d`)).toBe('export * or a destructuring export')
    expect(babelOnly(`export { x }\nconst x = 1`)).toBe('export { } of local names')
    expect(babelOnly(`export var a = 1\nvar a = 2`)).toBe('export var')
    expect(babelOnly('enum S { X = `x` }')).toBe('an enum with a template literal')
    expect(babelOnly(`import /* c */ { a } from 'a'`)).toBe('a comment inside an import')
    expect(babelOnly(`const a = 1\nimport {${' b,'.repeat(400)} c } from 'b'`)).toBe('an import of over 1,000 characters')
    expect(babelOnly(`import {${' b,'.repeat(300)} c } from 'b'`)).toBeNull()
    expect(babelOnly(`import a from 'a'\nconsole.log(a)\nimport b from 'b'\n`)).toBe('an import after code')
    expect(babelOnly(`const a = 1; export { b } from 'b'`)).toBe('an import after code')
    expect(babelOnly(`f(); import 'side'`)).toBe('an import after code')
    expect(babelOnly('x'.repeat(300 * 1024))).toMatch(/^over \d+ characters$/)
  })

})

describe('the cache', () => {
  it('what sucrase wrote is never read with sucrase off: a folder per set of transforms', async () => {
    expect(SUCRASE).toBe(true)
    const dir = folder('switch', { 'index.ts': `export const v: number = 1\n` })
    await load(dir)
    expect(writer(dir)).toBe('sucrase')
    // The same file, unchanged, loaded by a process with sucrase off.
    const script = join(root, `${tag}-switch.ts`)
    writeFileSync(
      script,
      `import { cacheDir, importFresh, stopTranspiler } from ${JSON.stringify(join(process.cwd(), 'core/runtime/loader.ts'))}\n` +
        `const v = await importFresh(${JSON.stringify(join(dir, 'index.ts'))})\n` +
        `await stopTranspiler()\n` +
        `console.log(JSON.stringify({ v, dir: cacheDir() }))\n`,
    )
    const out = JSON.parse(execFileSync(process.execPath, [join(process.cwd(), 'bin/run.mjs'), script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ENET_TRANSPILE_SUCRASE: '0' } })) as { v: unknown; dir: string }
    expect(out.v).toEqual({ v: 1 })
    expect(out.dir).toBe(join(privateCacheDir().dir as string, 'babel'))
    expect(writer(dir, 'index', out.dir)).toBe('babel')
  })
})

describe('the same module either way', () => {
  it('TypeScript (enum, parameter properties, class fields, types, top-level await) through sucrase', async () => {
    const dir = folder('ts', {
      'index.ts': `import { basename } from 'node:path'
import type { ParsedPath } from 'node:path'
enum Color { Red = 1, Green }
interface Shape { sides: number }
type Pair<T> = [T, T]
class Box { declare hidden: number; size = 2; constructor(public label: string) {} }
const shape: Shape = { sides: 4 } satisfies Shape
const pair: Pair<number> = [1, 2]
const parsed: ParsedPath | undefined = undefined
export const ready: string = await new Promise((r) => setTimeout(() => r('awaited'), 5))
export let count = 0
export function bump(): number { return ++count }
export const values = [Color.Green, Color[1], new Box('b').label, Object.keys(new Box('c')), shape.sides, pair, parsed?.base, basename('/a/b.ts')]
export default 'def' as const
`,
    })
    const mod = await load(dir)
    expect(mod.values).toEqual([2, 'Red', 'b', ['size', 'label'], 4, [1, 2], undefined, 'b.ts'])
    expect(mod.ready).toBe('awaited')
    expect(mod.default).toBe('def')
    // A live binding: the importer sees the new value.
    expect([(mod.bump as () => number)(), mod.count]).toEqual([1, 1])
    expect(writer(dir)).toBe('sucrase')
  })

  it('an ESM-only package with top-level await, and a CommonJS one, load through sucrase as through babel', async () => {
    const dir = folder('pkgs', {
      'index.ts': `import esmOnly from 'esm-only'\nimport cjs, { named } from 'cjs-pkg'\nexport const got = { esmOnly, cjs, named }\n`,
      'node_modules/esm-only/package.json': JSON.stringify({ name: 'esm-only', type: 'module', exports: { import: './index.js' } }),
      'node_modules/esm-only/index.js': `const v = await Promise.resolve('esm-only')\nexport default v\n`,
      'node_modules/cjs-pkg/package.json': JSON.stringify({ name: 'cjs-pkg', main: 'index.js' }),
      'node_modules/cjs-pkg/index.js': `module.exports = { named: 'n', other: 1 }\n`,
    })
    expect((await load(dir)).got).toEqual({ esmOnly: 'esm-only', cjs: { named: 'n', other: 1 }, named: 'n' })
    expect(writer(dir)).toBe('sucrase')
  })

  it('a file importing a local one goes to babel; the local file, importing none, to sucrase, top-level await and all', async () => {
    const dir = folder('local', {
      'index.ts': `import { ready, named } from './lib.ts'\nexport const got = [ready, named()]\n`,
      'lib.ts': `export const ready: string = await Promise.resolve('awaited')\nexport function named(): string { return 'named' }\n`,
    })
    expect((await load(dir)).got).toEqual(['awaited', 'named'])
    expect(writer(dir)).toBe('babel')
    expect(writer(dir, 'lib')).toBe('sucrase')
  })

  // Each of these gives a wrong value, or throws, through sucrase's CommonJS;
  // the rules send them to babel.
  const babelCases: Array<[string, Record<string, string>, Record<string, unknown>]> = [
    ['a removed type line before a line starting with (', { 'index.ts': `export const log: string[] = []\nconst f = () => log\ntype T = { a: 1 }\n(() => log.push('iife'))()\n` }, { log: ['iife'] }],
    ['a removed type line before a line starting with ;', { 'index.ts': `const actions = {}\ntype X = number\n;(globalThis as any).__enetActions = actions\nexport const same = (globalThis as any).__enetActions === actions\n` }, { same: true }],
    ['a destructuring export', { 'index.ts': `const defaults = { port: 8080 }\nexport const { port } = defaults\nconst o: any = {}\nexport const [a] = [2]\n` }, { port: 8080, a: 2 }],
    ['export * beside a local export of the same name', { 'index.ts': `export * from './util.ts'\nexport const version = 2\n`, 'util.ts': `export const version = 1\nexport const other = 3\n` }, { version: 2, other: 3 }],
    ['export { x } before const x', { 'index.ts': `export { x }\nconst x = 1\n` }, { x: 1 }],
    ['a cycle of local files', { 'index.ts': `import { routes } from './routes.ts'\nexport function prefix() { return '/p' }\nexport const got = routes\n`, 'routes.ts': `import { prefix } from './index.ts'\nexport const routes = [prefix() + '/a']\n` }, { got: ['/p/a'] }],
    ['a module block', { 'index.ts': `module Foo { export const a = 1 }\nexport const v = Foo.a\n` }, { v: 1 }],
  ]
  for (const [name, files, expected] of babelCases) {
    it(`${name}: babel, and right`, async () => {
      const dir = folder(name.replace(/\W+/g, '-'), files)
      expect(await load(dir)).toMatchObject(expected)
      expect(writer(dir)).toBe('babel')
    })
  }

  it('import.meta and a decorator go to babel, and work', async () => {
    const dir = folder('babel', {
      'index.ts': `const tagged: string[] = []
function mark(c: { name: string }) { tagged.push(c.name) }
@mark class Marked {}
export const got = { url: import.meta.url, tagged, marked: new Marked() instanceof Marked }
`,
    })
    expect((await load(dir)).got).toEqual({ url: `file://${join(dir, 'index.ts')}`, tagged: ['Marked'], marked: true })
    expect(writer(dir)).toBe('babel')
  })

  it('a decorator that the rules miss is caught by compiling sucrase output, and goes to babel', async () => {
    // Nothing in RULES matches here: sucrase passes the decorator through, the compile fails.
    const dir = folder('deco', { 'index.ts': `function d(c: unknown) { return c }\n@d class A {}\nexport const a = typeof A\n` })
    expect((await load(dir)).a).toBe('function')
    expect(writer(dir)).toBe('babel')
  })
})
