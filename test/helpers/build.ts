// vitest globalSetup: compile dist/ once before the tests, so every test that
// runs `bin/enet.mjs` runs the core as users get it (compiled), built from the
// sources under test by the build itself (scripts/build.mjs: tsc, then the
// plain files tsc leaves out). Incremental: an unchanged tree costs about a second.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  try {
    execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' })
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer }
    throw new Error(`npm run build failed:\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`)
  }
}
