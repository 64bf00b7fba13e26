// The layering rule, read from the import statements themselves: the core
// knows no plugin and no example, lower layers never reach up, and the client
// entry loads none of the server (nor chokidar, jiti, zod, pino, tapable).
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const CORE = join(ROOT, 'core')

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return /\.(ts|js|mjs)$/.test(name) ? [path] : []
  })
}

interface Imports {
  /** Relative imports, resolved to repo paths. */
  files: string[]
  /** Bare specifiers: packages (and node: builtins). */
  packages: string[]
}

/**
 * Static `import … from`, `export … from`, side-effect `import '…'`, dynamic
 * `import('…')` and `require('…')` (a package loaded on first use); `import
 * type` and `export type` are erased at run time (verbatimModuleSyntax), so
 * they are left out.
 */
function importsOf(file: string): Imports {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '')
    .replace(/^\s*(?:import|export)\s+type\s[^;]*?\bfrom\s*(['"])[^'"]+\1/gm, '')
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)(['"])([^'"]+)\1/gm)].map((m) => m[2]!)
  const files = specs.filter((s) => s.startsWith('.')).map((s) => relative(ROOT, resolve(dirname(file), s)))
  const packages = specs.filter((s) => !s.startsWith('.')).map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!))
  return { files, packages }
}

const all = sources(CORE).map((path) => ({ path: relative(ROOT, path), ...importsOf(path) }))
const byPath = new Map(all.map((f) => [f.path, f]))

/** Every repo file and package reachable from `entry` through static and dynamic imports. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>()
  const packages = new Set<string>()
  const visit = (path: string) => {
    if (files.has(path)) return
    files.add(path)
    const f = byPath.get(path)
    if (!f) return
    for (const p of f.packages) packages.add(p)
    for (const next of f.files) visit(next)
  }
  visit(entry)
  return { files, packages }
}

describe('layering', () => {
  it('found the core sources and their imports', () => {
    expect(all.length).toBeGreaterThan(30)
    expect(byPath.get('core/engine/server.ts')?.files).toContain('core/engine/dispatch.ts')
    // A package required on first use counts as imported.
    expect(byPath.get('core/hooks.ts')?.packages).toContain('tapable')
  })

  it('nothing under core/ imports plugins/, examples/ or anything else outside core/', () => {
    const outside = all.flatMap((f) => f.files.filter((to) => !to.startsWith('core/')).map((to) => `${f.path} → ${to}`))
    expect(outside).toEqual([])
  })

  it("no core file reads a bundled plugin's options", () => {
    const reads = all.filter((f) => /options\s*(?:\.\s*|\[\s*['"])(heartbeat|locator|logging)\b/.test(readFileSync(join(ROOT, f.path), 'utf8')))
    expect(reads.map((f) => f.path)).toEqual([])
  })

  it('wire, engine and transport never import the runtime or the CLI; wire imports only contracts', () => {
    const up = all
      .filter((f) => /^core\/(wire|engine|transport)\//.test(f.path))
      .flatMap((f) => f.files.filter((to) => /^core\/(runtime|cli)\//.test(to)).map((to) => `${f.path} → ${to}`))
    expect(up).toEqual([])
    const wire = all.filter((f) => f.path.startsWith('core/wire/')).flatMap((f) => f.files.filter((to) => !/^core\/(wire\/|errors\.ts|types\.ts)/.test(to)).map((to) => `${f.path} → ${to}`))
    expect(wire).toEqual([])
  })

  it('the runtime never imports the CLI', () => {
    const up = all.filter((f) => f.path.startsWith('core/runtime/')).flatMap((f) => f.files.filter((to) => to.startsWith('core/cli/')).map((to) => `${f.path} → ${to}`))
    expect(up).toEqual([])
  })

  it('the client entry loads no server layer and none of chokidar, jiti, zod, pino, tapable', () => {
    const { files, packages } = closure('core/client/index.ts')
    expect([...files].filter((f) => /^core\/(engine|transport|runtime|cli)\/|^core\/(config|hooks|index)\.ts$/.test(f))).toEqual([])
    expect([...packages].filter((p) => ['chokidar', 'jiti', 'zod', 'pino', 'tapable'].includes(p))).toEqual([])
    // The closure is real: the client does reach the wire codecs.
    expect(files).toContain('core/wire/codec.ts')
  })
})
