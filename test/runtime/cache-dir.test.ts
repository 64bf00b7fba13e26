// jiti's transpile cache (fsCache) holds the config and every plugin as code
// the server will run: it must never land in a shared temporary folder.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { privateCacheDir } from '../../core/runtime/cache-dir.ts'
import { importFresh } from '../../core/runtime/loader.ts'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

/** Every file name under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
}

describe('privateCacheDir', () => {
  it("uses the project's node_modules/.cache/enet, created 0700", () => {
    const cwd = temp('enet-cache-')
    mkdirSync(join(cwd, 'node_modules'))
    const { dir } = privateCacheDir({ cwd, env: {} })
    expect(dir).toBe(join(cwd, 'node_modules', '.cache', 'enet'))
    expect(statSync(dir as string).mode & 0o777).toBe(0o700)
  })

  it('falls back to $XDG_CACHE_HOME/enet, and closes an existing folder opened to others', () => {
    const cwd = temp('enet-cache-')
    const xdg = temp('enet-xdg-')
    mkdirSync(join(xdg, 'enet'), { mode: 0o755 })
    chmodSync(join(xdg, 'enet'), 0o777)
    const { dir } = privateCacheDir({ cwd, env: { XDG_CACHE_HOME: xdg } })
    expect(dir).toBe(join(xdg, 'enet'))
    expect(statSync(join(xdg, 'enet')).mode & 0o777).toBe(0o700)
  })

  it('turns the cache off for a symbolic link, a folder of another user, or a parent anyone may write', () => {
    const cwd = temp('enet-cache-')
    const xdg = temp('enet-xdg-')
    const elsewhere = temp('enet-else-')
    symlinkSync(elsewhere, join(xdg, 'enet'))
    expect(privateCacheDir({ cwd, env: { XDG_CACHE_HOME: xdg } })).toEqual({ dir: false, why: `${join(xdg, 'enet')}: is a symbolic link` })

    const other = temp('enet-xdg-')
    mkdirSync(join(other, 'enet'), { mode: 0o700 })
    // The suite runs as root here; as another user chown is refused and the case is covered by the symlink one.
    if (process.getuid?.() === 0) {
      chownSync(join(other, 'enet'), 65534, 65534)
      expect(privateCacheDir({ cwd, env: { XDG_CACHE_HOME: other } }).dir).toBe(false)
    }

    const open = temp('enet-xdg-')
    chmodSync(open, 0o777)
    const r = privateCacheDir({ cwd, env: { XDG_CACHE_HOME: open } })
    expect(r.dir).toBe(false)
    expect(r.why).toMatch(/writable by everyone/)
  })

  it('ENET_CACHE=off turns it off', () => {
    expect(privateCacheDir({ cwd: temp('enet-cache-'), env: { ENET_CACHE: 'off' } }).dir).toBe(false)
  })
})

it('with TMPDIR at a 0777 folder, loading a plugin writes nothing there, and the cache folder is 0700', async () => {
  const shared = temp('enet-shared-tmp-')
  chmodSync(shared, 0o777)
  const root = temp('enet-proj-')
  mkdirSync(join(root, 'cachecheck'))
  const file = join(root, 'cachecheck', 'index.ts')
  writeFileSync(file, `export default { name: 'cachecheck', routes: { 1: (req: { reply(m: number, d: Buffer): void; data: Buffer }) => req.reply(1, req.data) } }\n`)
  const saved = process.env.TMPDIR
  process.env.TMPDIR = shared
  try {
    // The loader is made on first use in this file, so it sees this TMPDIR as jiti would.
    expect(await importFresh(file)).toMatchObject({ name: 'cachecheck' })
  } finally {
    if (saved === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = saved
  }
  expect(filesUnder(shared)).toEqual([])
  const dir = privateCacheDir().dir as string
  expect(statSync(dir).mode & 0o777).toBe(0o700)
  expect(filesUnder(dir).some((f) => f.includes('cachecheck-index'))).toBe(true)
})
