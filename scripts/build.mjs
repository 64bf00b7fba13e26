// The one build: tsc on a project, then the files tsc does not emit, copied
// beside their compiled neighbours in that project's outDir.
//   node scripts/build.mjs                     npm run build, vitest's globalSetup: tsconfig.build.json → dist/
//   node scripts/build.mjs PROJECT OUTDIR      the bench (bench/loadgen.ts): bench/tsconfig.json → its cache
import { execFileSync } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Plain JavaScript that the compiled core loads by path. */
const PLAIN = ['core/runtime/transpile-worker.cjs']

const root = fileURLToPath(new URL('..', import.meta.url))
const [project = 'tsconfig.build.json', outDir = 'dist'] = process.argv.slice(2)
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
try {
  execFileSync(process.execPath, [tsc, '-p', resolve(root, project)], { cwd: root, stdio: 'pipe' })
} catch (err) {
  process.stderr.write(`build: tsc -p ${project} failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`)
  process.exit(1)
}
for (const file of PLAIN) copyFileSync(join(root, file), join(resolve(root, outDir), file))
