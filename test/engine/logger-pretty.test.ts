// Log format: pretty at a terminal, JSON otherwise, as log.pretty says. The
// terminal is a real pseudo-terminal (util-linux `script`), the pipe a real one.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { wantsPretty } from '../../core/engine/logger.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'enet-pretty-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A child that makes the server's logger with `pretty` and writes one line. */
function child(pretty: string): string {
  const file = join(dir, `log-${pretty}.ts`)
  writeFileSync(
    file,
    `import { createLogger } from ${JSON.stringify(join(REPO, 'core/engine/logger.ts'))}
import { resolveConfig } from ${JSON.stringify(join(REPO, 'core/config.ts'))}
const log = createLogger(resolveConfig({ log: { pretty: ${pretty} } }))
log.info({ conn: 7, remote: '127.0.0.1:5000' }, 'connection started')
log.flush?.()
`,
  )
  return `${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO, 'bin/run.mjs'))} ${JSON.stringify(file)}`
}

const inTerminal = (cmd: string) => execFileSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NO_COLOR: '1' } })
const inPipe = (cmd: string) => execFileSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 20_000 })
const lines = (out: string) => out.split(/\r?\n/).filter((l) => l.trim() !== '')

describe('log format', () => {
  it('the decision: true and false win; auto follows whether stdout is a TTY; the formatter ships with the package', () => {
    expect([wantsPretty(true, false), wantsPretty(false, true), wantsPretty('auto', true), wantsPretty('auto', false)]).toEqual([true, false, true, false])
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    expect(pkg.dependencies['pino-pretty']).toBeDefined()
  })

  it("auto at a real terminal: one short readable line, no JSON", () => {
    const [line, ...more] = lines(inTerminal(child("'auto'")))
    expect(more).toEqual([])
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(enet\): connection started \{"conn":7,"remote":"127\.0\.0\.1:5000"\}$/)
  })

  it('auto into a pipe: one JSON line', () => {
    const [line, ...more] = lines(inPipe(child("'auto'")))
    expect(more).toEqual([])
    expect(JSON.parse(line!)).toMatchObject({ level: 30, name: 'enet', msg: 'connection started', conn: 7, remote: '127.0.0.1:5000' })
  })

  it('false at a terminal is JSON; true into a pipe is pretty', () => {
    expect(JSON.parse(lines(inTerminal(child('false')))[0]!)).toMatchObject({ msg: 'connection started' })
    expect(lines(inPipe(child('true')))[0]).toMatch(/INFO \(enet\): connection started/)
  })
})
