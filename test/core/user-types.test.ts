// The types as a user project sees them: test/fixtures/user-app compiled by
// tsc against the installed package (its exports and built .d.ts, as
// `npm install @enetjs/enet` gives them). Each `@ts-expect-error` there must be
// an error (tsc reports one that is not), and everything else must compile.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'
import { finish, run } from '../docs/commands.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const app = mkdtempSync(join(tmpdir(), 'enet-user-app-'))
afterAll(() => rmSync(app, { recursive: true, force: true }))

it('a user project type-checks: handlers without annotations, exact defineConfig, the types plugin authors import', async () => {
  cpSync(join(REPO, 'test/fixtures/user-app'), app, { recursive: true })
  writeFileSync(join(app, 'package.json'), '{ "type": "module", "private": true }\n')
  const modules = join(app, 'node_modules')
  mkdirSync(join(modules, '@enetjs'), { recursive: true })
  for (const name of readdirSync(join(REPO, 'node_modules'))) symlinkSync(join(REPO, 'node_modules', name), join(modules, name))
  symlinkSync(REPO, join(modules, '@enetjs', 'enet'))
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, allowImportingTsExtensions: true, verbatimModuleSyntax: true, types: ['node'] },
      include: ['**/*.ts'],
      exclude: ['node_modules'],
    }),
  )
  const r = run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', join(app, 'tsconfig.json')], { cwd: app })
  await finish(r, 60_000, 'tsc')
  expect(r.out.split('\n').filter((l) => l.includes('error TS'))).toEqual([])
}, 90_000)
