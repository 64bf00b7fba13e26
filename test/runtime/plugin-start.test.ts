// Plugins that fail while the server starts: by default each failure is
// logged with its file and cause and the other plugins serve; with
// `plugins.strict: true` the first failure stops `enet start`.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { FrameClient } from '../helpers/frames.ts'
import { LEVEL, type LogLine } from '../helpers/logs.ts'
import { createProject, echoPlugin, type Project } from '../helpers/project.ts'
import { UdpClient } from '../helpers/udp.ts'

const BIN = fileURLToPath(new URL('../../bin/enet.mjs', import.meta.url))

/** One plugin per way to fail at start; `cause` is what the log must say about it. */
const BROKEN = {
  'syntax-error': { src: `export default { name: 'syntax-error', routes: { 2: (req) => req.reply(2, 'x') }\n`, cause: /ParseError[^]*syntax-error\/index\.ts:2:\d+/ },
  'import-throws': { src: `throw new Error('boom at import')\n`, cause: /boom at import/ },
  'setup-throws': { src: `export default { name: 'setup-throws', setup() { throw new Error('boom in setup') } }\n`, cause: /boom in setup/ },
} as const
type Broken = keyof typeof BROKEN
const BROKEN_NAMES = Object.keys(BROKEN) as Broken[]

interface FailedLine extends LogLine {
  plugin: string
  file: string
  err: { message: string; stack: string }
}

const failedLines = (lines: LogLine[]) => lines.filter((l): l is FailedLine => l.outcome === 'failed')

describe('a plugin that fails at start (plugins.strict off)', () => {
  let project: Project | undefined
  const clients: Array<FrameClient | UdpClient> = []
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close()
    await project?.close()
    project = undefined
  })

  it('is logged with its file and cause; the others load and answer on TCP and UDP; a good save recovers it', async () => {
    project = await createProject({
      'plugins/good/index.ts': echoPlugin('good', 1, 'good'),
      ...Object.fromEntries(BROKEN_NAMES.map((name) => [`plugins/${name}/index.ts`, BROKEN[name].src])),
      'plugins/zz-good/index.ts': echoPlugin('zz', 9, 'zz-good'),
    })
    const p = project
    const fileOf = (name: string) => join(p.root, 'plugins', name, 'index.ts')

    const failed = failedLines(p.logs.lines)
    expect(failed.map((l) => l.plugin).sort()).toEqual([...BROKEN_NAMES].sort())
    for (const name of BROKEN_NAMES) {
      const line = failed.find((l) => l.plugin === name)!
      expect(line).toMatchObject({ level: LEVEL.error, plugin: name, file: fileOf(name), from: null, to: null })
      expect(line.err.message).toMatch(BROKEN[name].cause)
      // The stack (or, for a parse error, the message) points into the plugin's own file.
      expect(`${line.err.message}\n${line.err.stack}`).toContain(fileOf(name))
      expect(p.app.plugins.get(name)).toMatchObject({ status: 'failed', version: 0, routes: [] })
      expect(p.app.plugins.get(name)!.lastError).toMatch(BROKEN[name].cause)
    }
    // A load failure names the file in the headline too; a setup failure names the plugin.
    expect(failed.find((l) => l.plugin === 'syntax-error')!.msg).toContain(fileOf('syntax-error'))
    expect(failed.find((l) => l.plugin === 'import-throws')!.msg).toContain(fileOf('import-throws'))
    expect(failed.find((l) => l.plugin === 'setup-throws')!.msg).toMatch(/plugin setup-throws \(\/.*setup-throws\/index\.ts\) setup failed: boom in setup/)

    expect(p.app.plugins.get('good')).toMatchObject({ status: 'active', version: 1, routes: [1] })
    expect(p.app.plugins.get('zz-good')).toMatchObject({ status: 'active', version: 1, routes: [9] })
    const { tcp, udp } = p.app.server.address()
    const t = await FrameClient.connect(tcp!.port)
    clients.push(t)
    const u = await UdpClient.open(udp!.port)
    clients.push(u)
    expect(await t.request(1, 'a')).toMatchObject({ msgId: 1, text: 'good:a' })
    expect(await t.request(9, 'b')).toMatchObject({ msgId: 9, text: 'zz:b' })
    expect(await u.request(1, 'c')).toMatchObject({ msgId: 1, text: 'good:c' })

    // good → broken (at start) → good again: a fixed file loads without a restart.
    for (const [i, name] of BROKEN_NAMES.entries()) {
      const loaded = p.nextEvents(1, 'loaded')
      p.write(`plugins/${name}/index.ts`, echoPlugin(`fixed-${name}`, 20 + i, name))
      expect((await loaded)[0]).toMatchObject({ plugin: name, from: null, to: 'v1' })
      expect(await t.request(20 + i, 'd')).toMatchObject({ msgId: 20 + i, text: `fixed-${name}:d` })
      expect(p.app.plugins.get(name)).toMatchObject({ status: 'active', lastError: null })
    }
    expect(t.closed).toBe(false)
  })
})

describe('a plugin that fails at start with plugins.strict: true', () => {
  const dirs: string[] = []
  const children: ReturnType<typeof spawn>[] = []
  // afterAll, not afterEach: the concurrent tests would kill each other's children.
  afterAll(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  /** A temp project on disk; returns its config file. */
  function projectOnDisk(strict: boolean, files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'enet-strict-'))
    dirs.push(root)
    const write = (rel: string, text: string) => {
      mkdirSync(dirname(join(root, rel)), { recursive: true })
      writeFileSync(join(root, rel), text)
    }
    write('enet.config.ts', `import { defineConfig } from 'enet'\nexport default defineConfig({ admin: { socket: false }, plugins: { strict: ${strict} } })\n`)
    for (const [rel, text] of Object.entries(files)) write(rel, text)
    return join(root, 'enet.config.ts')
  }

  /** `enet start` as a child (as test/cli/cli-start.test.ts runs it); resolves on exit or on the listening line. */
  function start(config: string) {
    const child = spawn(process.execPath, [BIN, 'start', '--config', config, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0'], {
      cwd: dirname(config),
      env: { ...process.env, ENET_TCP: '', ENET_UDP: '', ENET_LOG_LEVEL: '', ENET_PLUGINS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    children.push(child)
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    const r = { child, exit, stdout: '', stderr: '', listening: undefined as unknown as Promise<number> }
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (r.stdout += s))
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (r.stderr += s))
    r.listening = new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', () => {
        const m = /^enet listening tcp 127\.0\.0\.1:(\d+)/m.exec(r.stdout)
        if (m) resolve(Number(m[1]))
      })
      void exit.then((e) => reject(new Error(`exited ${JSON.stringify(e)} before listening; stderr: ${r.stderr}`)))
    })
    r.listening.catch(() => {})
    return r
  }

  const jsonLines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine)

  it.concurrent.each(BROKEN_NAMES)('%s: enet start exits with code 2 and one stderr line naming the plugin and the cause', async (name) => {
    const config = projectOnDisk(true, { 'plugins/good/index.ts': echoPlugin('good', 1, 'good'), [`plugins/${name}/index.ts`]: BROKEN[name].src })
    const file = join(dirname(config), 'plugins', name, 'index.ts')
    const r = start(config)
    expect(await r.exit).toEqual({ code: 2, signal: null })
    expect(r.stdout).not.toMatch(/enet listening/)
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^enet: plugin ${name} `))
    expect(lines[0]).toMatch(BROKEN[name].cause)
    expect(lines[0]).toContain(file)
    // The pino JSON log on stdout has the failure with its file and cause.
    const [failed, ...more] = failedLines(jsonLines(r.stdout))
    expect(more).toEqual([])
    expect(failed).toMatchObject({ level: LEVEL.error, plugin: name, file })
    expect(failed!.err.message).toMatch(BROKEN[name].cause)
    // A failure to load stops the start before any plugin runs its setup.
    if (name !== 'setup-throws') expect(jsonLines(r.stdout).filter((l) => l.msg === 'plugin loaded')).toEqual([])
  })

  it('the same project without strict starts and serves the good plugin', async () => {
    const config = projectOnDisk(false, { 'plugins/good/index.ts': echoPlugin('good', 1, 'good'), 'plugins/import-throws/index.ts': BROKEN['import-throws'].src })
    const r = start(config)
    const port = await r.listening
    const c = await FrameClient.connect(port)
    try {
      expect(await c.request(1, 'a', 5_000)).toMatchObject({ msgId: 1, text: 'good:a' })
      expect(failedLines(jsonLines(r.stdout))).toMatchObject([{ plugin: 'import-throws', file: join(dirname(config), 'plugins', 'import-throws', 'index.ts') }])
    } finally {
      c.close()
    }
    r.child.kill('SIGTERM')
    expect(await r.exit).toEqual({ code: 0, signal: null })
  })
})
