// Every TypeScript block of the docs (check kinds plugin, config, client,
// typecheck; see code-blocks.test.ts) compiles with tsc against the real
// types, as a user project importing 'enet' would.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { PLUGINS } from '../plugins/bundled.ts'
import { REPO, docFiles, parseBlocks, pluginPath, type Block } from './blocks.ts'
import { finish, run } from './commands.ts'

const tmp = mkdtempSync(join(tmpdir(), 'enet-docs-tsc-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const bundled = readdirSync(PLUGINS).filter((d) => existsSync(join(PLUGINS, d, 'index.ts')))

it('every TypeScript block type-checks against the real types', async () => {
  const typed = docFiles().flatMap((d) => parseBlocks(d)).filter((b) => ['plugin', 'config', 'client', 'typecheck'].includes(b.kind ?? ''))
  const root = tmp
  const files = new Map<string, Block>()
  typed.forEach((b, i) => {
    const dir = join(root, `b${i}`)
    const rel = b.kind === 'config' ? 'enet.config.ts' : b.kind === 'plugin' ? pluginPath(b)! : 'snippet.ts'
    if (b.kind === 'plugin') for (const name of bundled) mkdirSync(join(dir, 'plugins'), { recursive: true }), symlinkSync(join(PLUGINS, name), join(dir, 'plugins', name))
    const file = join(dir, rel)
    mkdirSync(dirname(file), { recursive: true })
    const prelude = (b.args.declare ?? []).map((d) => `declare ${d}\n`).join('')
    // The prelude shares the first line with the block's, so error lines map one to one.
    writeFileSync(file, prelude.replace(/\n/g, ' ') + b.text)
    files.set(file, b)
  })
  writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n')
  // The repo's packages, and the package itself as a user app has it installed:
  // '@enetjs/enet/…' subpaths resolve through its exports to the built .d.ts.
  const modules = join(root, 'node_modules')
  mkdirSync(join(modules, '@enetjs'), { recursive: true })
  for (const name of readdirSync(join(REPO, 'node_modules'))) symlinkSync(join(REPO, 'node_modules', name), join(modules, name))
  symlinkSync(REPO, join(modules, '@enetjs', 'enet'))
  const core = join(REPO, 'core/index.ts')
  writeFileSync(
    join(root, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        allowImportingTsExtensions: true, verbatimModuleSyntax: true, skipLibCheck: true,
        types: ['node'], typeRoots: [join(REPO, 'node_modules/@types')],
        paths: { enet: [core], '@enetjs/enet': [core] },
      },
      include: ['**/*.ts'],
    }),
  )
  const r = run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root })
  await finish(r, 60_000, 'tsc')
  const errors = r.out
    .split('\n')
    .filter((l) => /^\S.*\(\d+,\d+\): error/.test(l))
    .map((l) => {
      const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(l)!
      const b = files.get(join(root, m[1]!))
      return b ? `${b.doc}:${b.line + Number(m[2])}: ${m[4]}` : l
    })
  expect(errors).toEqual([])
}, 90_000)
