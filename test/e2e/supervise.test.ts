// The headline promise under plugin bugs, with a real `enet start`: errors
// that escape a plugin's code to the process (a raw timer, a throwing socket
// listener, stray rejections from setup and from a handler, a ctx timer) are
// that plugin's faults, and the process keeps answering a client throughout.
// An error no plugin owns still stops the process (log, drain, exit 1).
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, expect, it } from 'vitest'
import { connect, type Client } from '../../core/client/index.ts'
import { adminRequest } from '../../core/runtime/admin.ts'
import { startEnetChild, type EnetChild } from '../../scripts/enet-child.ts'
import { until } from '../helpers/until.ts'

const BIN = fileURLToPath(new URL('../../bin/enet.mjs', import.meta.url))
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const CRASHY = `import dgram from 'node:dgram'
import { definePlugin } from 'enet'
export default definePlugin({
  name: 'crashy',
  routes: {
    1: (req) => { req.reply(1, req.data) },
    // Each of these answers, then leaves something behind that fails later.
    2: (req) => {
      req.reply(2, 'ok')
      void Promise.reject(new Error('stray rejection from a handler'))
    },
    3: (req) => {
      req.reply(3, 'ok')
      setTimeout(() => { throw new Error('raw timer from a handler') }, 1)
    },
  },
  setup(ctx) {
    ctx.setTimeout(() => { throw new Error('ctx timer from setup') }, 1)
    setTimeout(() => { throw new Error('raw timer from setup') }, 1)
    void (async () => { await null; throw new Error('async work started in setup') })()
    const s = dgram.createSocket('udp4')
    s.bind(0, '127.0.0.1', () => {
      s.on('message', () => { throw new Error('socket listener') })
      s.send('x', s.address().port, '127.0.0.1')
    })
    ctx.onDispose(() => s.close())
  },
})
`

function project(config: string, plugins: Record<string, string> = {}): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), 'enet-supervise-'))
  cleanups.push(() => rmSync(root, { recursive: true, force: true }))
  for (const [name, src] of Object.entries(plugins)) {
    mkdirSync(join(root, 'plugins', name), { recursive: true })
    writeFileSync(join(root, 'plugins', name, 'index.ts'), src)
  }
  writeFileSync(join(root, 'enet.config.ts'), config)
  return { root, file: join(root, 'enet.config.ts') }
}

function start(p: { root: string; file: string }): { server: EnetChild; lines: Array<Record<string, unknown>>; exit: Promise<number | null> } {
  const lines: Array<Record<string, unknown>> = []
  const server = startEnetChild(p.file, { cwd: p.root, onLine: (l) => l.startsWith('{') && lines.push(JSON.parse(l)) })
  const exit = new Promise<number | null>((resolve) => server.child.on('exit', (code) => resolve(code)))
  cleanups.push(() => {
    if (server.child.exitCode === null) server.child.kill('SIGKILL')
  })
  return { server, lines, exit }
}

it('faults from every corner of a plugin are contained: logged with file:line, counted, shown by enet plugins; a client is answered throughout', async () => {
  const p = project(
    `import { defineConfig } from 'enet'
export default defineConfig({ log: { level: 'warn', pretty: false }, plugins: { dirs: ['./plugins'], watch: false, faults: { policy: 'keep' } } })
`,
    { crashy: CRASHY },
  )
  const { server, lines } = start(p)
  const { tcp } = await server.ports
  const c: Client = connect(`tcp://127.0.0.1:${tcp}`, { reconnect: false })
  cleanups.push(() => c.close())
  await c.ready()
  let answered = 0
  const ask = async (msgId: number, text: string) => {
    expect((await c.request(msgId, text, { timeoutMs: 5_000 })).data.toString()).toBe(msgId === 1 ? text : 'ok')
    answered++
  }
  await ask(1, 'before')
  await ask(2, '')
  await ask(3, '')
  await ask(1, 'between')
  const faultLines = () => lines.filter((l) => l.plugin === 'crashy' && typeof l.site === 'string')
  await until(() => faultLines().length >= 6, 10_000, '6 fault lines')
  for (let i = 0; i < 20; i++) await ask(1, `after ${i}`)
  expect(answered).toBe(24)

  const bySite = faultLines().map((l) => `${l.site}: ${(l.err as { message: string }).message}`).sort()
  expect(new Set(bySite)).toEqual(
    new Set([
      'rejection: async work started in setup',
      'rejection: stray rejection from a handler',
      'timer: ctx timer from setup',
      'uncaught: raw timer from a handler',
      'uncaught: raw timer from setup',
      'uncaught: socket listener',
    ]),
  )
  for (const l of faultLines()) expect(l.at).toMatch(new RegExp(`^${p.root}/plugins/crashy/index.ts:\\d+:\\d+$`))
  const listed = await adminRequest(join(p.root, '.enet', 'admin.sock'), { cmd: 'plugins' })
  expect(listed.plugins).toEqual([expect.objectContaining({ name: 'crashy', status: 'active', version: 1, faults: faultLines().length })])
  const text = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [BIN, 'plugins', '--config', p.file], { cwd: p.root }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  )
  expect(text.split('\n')[0]).toMatch(/^NAME\s+VERSION\s+STATUS\s+ROUTES\s+TAPS\s+FAULTS\s+RESTARTS\s+LAST ERROR\s+LAST FAULT$/)
  expect(text.split('\n')[1]).toMatch(new RegExp(`^crashy\\s+v1\\s+active\\s+1,2,3\\s+0\\s+${faultLines().length}\\s+0\\s+-\\s+\\w+ at .*crashy/index.ts:\\d+:\\d+: `))
})

it('an error no plugin owns stops the process: a fatal line, a drain, exit 1', async () => {
  // The config's code is the app's, not a plugin's: what it leaves behind is unattributable.
  const p = project(`import { defineConfig } from 'enet'
process.on('SIGUSR2', () => { throw new Error('a bug outside any plugin') })
export default defineConfig({ log: { level: 'info', pretty: false }, plugins: { dirs: [], watch: false } })
`)
  const { server, lines, exit } = start(p)
  const { tcp } = await server.ports
  const c: Client = connect(`tcp://127.0.0.1:${tcp}`, { reconnect: false })
  cleanups.push(() => c.close())
  await c.ready()
  const closed = new Promise<void>((resolve) => c.once('disconnect', () => resolve()))
  server.child.kill('SIGUSR2')
  expect(await exit).toBe(1)
  await closed
  const fatal = lines.find((l) => l.level === 60)
  expect(fatal).toMatchObject({ origin: 'uncaughtException', msg: 'uncaughtException outside any plugin: stopping (exit 1)', err: { message: 'a bug outside any plugin' } })
  expect(lines.some((l) => l.msg === 'closed')).toBe(true)
})
