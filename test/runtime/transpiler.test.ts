// Transpiling off the main thread (core/runtime/transpiler.ts): a worker
// fills jiti's cache before the loader imports, so the main thread's jiti
// finds every file there and never loads babel; what the worker cannot do
// (a syntax error) the main thread still does and reports.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cacheDir, importFresh, stopTranspiler } from '../../core/runtime/loader.ts'
import { Transpiler } from '../../core/runtime/transpiler.ts'

const root = mkdtempSync(join(tmpdir(), 'enet-transpile-'))
afterAll(async () => {
  await stopTranspiler()
  rmSync(root, { recursive: true, force: true })
})
// A tag new to every run, so the cache (kept between runs) never has these files yet.
const tag = `t${process.pid}x${Date.now()}`
const require = createRequire(import.meta.url)
// jiti's exports hide dist/: find babel beside its main entry (lib/jiti.cjs).
const babel = join(dirname(require.resolve('jiti')), '..', 'dist', 'babel.cjs')

function plugin(name: string, body = `routes: { [MSG.ECHO]: (req: { reply(m: number, d: Buffer): boolean; data: Buffer }) => void req.reply(MSG.ECHO, req.data) }`): string {
  const dir = join(root, name)
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'msg.ts'), `export const MSG = { ECHO: 1 } as const\nexport const TAG: string = '${tag}-${name}'\n`)
  writeFileSync(join(dir, 'index.ts'), `import { definePlugin } from 'enet'\nimport { MSG, TAG } from './msg.ts'\nexport default definePlugin({ name: TAG, ${body} })\n`)
  return join(dir, 'index.ts')
}

const cached = (name: string) => readdirSync(cacheDir() as string).filter((f) => f.startsWith(`${name}-`))

describe('the transpiling worker', () => {
  it('a plugin and its local import load with babel never loaded on the main thread', async () => {
    const file = plugin('offmain')
    expect(require.cache[babel]).toBeUndefined()
    const def = (await importFresh(file)) as { name: string; routes: Record<number, unknown> }
    expect(def.name).toBe(`${tag}-offmain`)
    expect(Object.keys(def.routes)).toEqual(['1'])
    expect(require.cache[babel]).toBeUndefined()
    expect(cached('offmain').length).toBeGreaterThanOrEqual(2)
  })

  it('warm() reports the entry and the local TypeScript it imports', async () => {
    const file = plugin('warmed')
    const t = new Transpiler(cacheDir() as string)
    try {
      expect((await t.warm(file)).sort()).toEqual([join(root, 'warmed', 'index.ts'), join(root, 'warmed', 'msg.ts')])
      // Not TypeScript: nothing to do, and no worker needed.
      expect(await t.warm(join(root, 'x.json'))).toEqual([])
    } finally {
      await t.stop()
    }
  })

  it('a save with a syntax error is still reported by the loader; the next good save loads', async () => {
    const file = plugin('broken', `routes: { 1: ( }`)
    await expect(importFresh(file)).rejects.toThrow(/index\.ts/)
    plugin('broken')
    expect(((await importFresh(file)) as { name: string }).name).toBe(`${tag}-broken`)
  })

  it('holds the process open while it has work, and not after', () => {
    const file = plugin('alone')
    const script = join(root, 'alone.ts')
    // Nothing else keeps this process alive; the idle exit (10 min) is out of the picture.
    writeFileSync(
      script,
      `import { Transpiler } from ${JSON.stringify(join(process.cwd(), 'core/runtime/transpiler.ts'))}\n` +
        `const t = new Transpiler(${JSON.stringify(cacheDir())}, 600_000)\n` +
        `console.log(JSON.stringify(await t.warm(${JSON.stringify(file)})))\n`,
    )
    const out = execFileSync(process.execPath, [join(process.cwd(), 'bin/run.mjs'), script], { encoding: 'utf8', timeout: 30_000 })
    expect(JSON.parse(out).length).toBe(2)
  })

  it('a request past the timeout stops the worker: the next request gets a new one, not a place behind the stuck one', async () => {
    // A FIFO named .ts: reading it blocks the worker until something writes to it.
    const stuck = join(root, 'stuck.ts')
    execFileSync('mkfifo', [stuck])
    const file = plugin('late')
    const t = new Transpiler(cacheDir() as string, 600_000, 3_000)
    try {
      expect(await t.warm(stuck)).toEqual([])
      // Had the stuck worker been kept, this would wait behind it and time out too.
      expect((await t.warm(file)).sort()).toEqual([join(root, 'late', 'index.ts'), join(root, 'late', 'msg.ts')])
    } finally {
      await t.stop()
      // Let the old worker's read end, so its thread can exit.
      writeFileSync(stuck, '')
    }
  })

  it('a stopped worker leaves loading to the main thread', async () => {
    const file = plugin('stopped')
    const t = new Transpiler(cacheDir() as string)
    const pending = t.warm(file)
    await t.stop()
    expect(await pending).toEqual([])
    expect(((await importFresh(file)) as { name: string }).name).toBe(`${tag}-stopped`)
  })
})
