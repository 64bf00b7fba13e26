// `npm run build` and vitest's globalSetup (test/helpers/build.ts): the core
// and the bundled plugins to dist/ with tsc, then the files tsc does not
// emit, copied beside their compiled neighbours.
import { execFileSync } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Plain JavaScript that the compiled core loads by path. */
const PLAIN = ['core/runtime/transpile-worker.cjs']

const root = fileURLToPath(new URL('..', import.meta.url))
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
try {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' })
} catch (err) {
  process.stderr.write(`build: tsc -p tsconfig.build.json failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`)
  process.exit(1)
}
for (const file of PLAIN) copyFileSync(join(root, file), join(root, 'dist', file))
