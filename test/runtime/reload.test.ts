// Hot reload over real files and real sockets: every test edits plugin
// sources on disk while a client stays connected.
import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, renameSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import type { FSWatcher } from 'chokidar'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, type Client } from '../../core/client/index.ts'
import * as core from '../../core/index.ts'
import { createProject, echoPlugin, type Project } from '../helpers/project.ts'
import { deferred, until } from '../helpers/until.ts'

let project: Project | undefined
const clients: Client[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await project?.close()
  project = undefined
})

async function tcpClient(p: Project): Promise<Client> {
  const c = connect(`tcp://127.0.0.1:${p.app.server.address().tcp!.port}`, { reconnect: false })
  clients.push(c)
  await c.ready()
  return c
}

async function udpClient(p: Project): Promise<Client> {
  const c = connect(`udp://127.0.0.1:${p.app.server.address().udp!.port}`)
  clients.push(c)
  await c.ready()
  return c
}

const ask = async (c: Client, msgId: number, text: string) => (await c.request(msgId, text, { timeoutMs: 2_000 })).data.toString()

const answer = async (p: Project, msgId: number, text: string) => (await p.app.server.inject({ msgId, data: text }))[0]?.data.toString()

/** Polls `inject` until the server answers `want` (a reload that is still to come). */
async function untilAnswers(p: Project, msgId: number, text: string, want: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let got: string | undefined
  while ((got = await answer(p, msgId, text)) !== want) {
    if (Date.now() > deadline) throw new Error(`untilAnswers: still "${got}" after ${timeoutMs} ms, want "${want}"`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Proving that something did NOT happen needs a bounded wait; call this only
 * after a positive barrier (the reload event, the new answer). 300 ms covers
 * the longest path a stray watcher event takes to a plugin event: chokidar's
 * awaitWriteFinish (50 ms stable, polled every 12 ms: core/runtime/app.ts stabilityMs,
 * core/runtime/plugin/watcher.ts), debounceMs (20, LOOPBACK_CONFIG) and removeGraceMs
 * (150, createProject) before an unload.
 */
const QUIET_MS = 300
const quiet = () => new Promise((r) => setTimeout(r, QUIET_MS))

/** The plugin watcher's chokidar instance (private to App and DebouncedWatcher): the only place that says "the watcher saw it". */
const chokidarOf = (p: Project) => (p.app as unknown as { pluginWatcher: { watcher: FSWatcher } }).pluginWatcher.watcher

describe('plugin reload', () => {
  it('good v1 → broken v2 keeps v1 → good v3, on one connection that never closes', async () => {
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('v1') })
    const p = project
    const stops: string[] = []
    p.app.server.hooks.onConnStop.tap('test', (_c, reason) => void stops.push(reason))
    const c = await tcpClient(p)
    expect(await ask(c, 1, 'a')).toBe('v1:a')

    const failed = p.nextEvents(1, 'failed')
    p.write('plugins/echo/index.ts', 'export default definePlugin({ name: "echo", routes: { 1: (req) => req.reply(1, "v2") ')
    const [failure] = await failed
    expect(failure!.plugin).toBe('echo')
    expect(failure!.file).toMatch(/plugins[/\\]echo[/\\]index\.ts$/)
    expect(await ask(c, 1, 'b')).toBe('v1:b')
    const errorLine = p.logs.lines.find((l) => l.outcome === 'failed')!
    expect(errorLine).toMatchObject({ level: 50, plugin: 'echo', file: failure!.file })
    expect(p.app.plugins.get('echo')).toMatchObject({ version: 1, status: 'active' })
    expect(p.app.plugins.get('echo')!.lastError).toMatch(/echo.*index\.ts/)

    const reloaded = p.nextEvents(1, 'reloaded')
    p.write('plugins/echo/index.ts', echoPlugin('v3'))
    expect((await reloaded)[0]).toMatchObject({ plugin: 'echo', from: 'v1', to: 'v2' })
    expect(await ask(c, 1, 'c')).toBe('v3:c')
    expect(p.app.plugins.get('echo')!.lastError).toBeNull()
    expect(stops).toEqual([])
    expect(c.connected).toBe(true)
  })

  it('a request in flight finishes on the old version; the next one runs the new', async () => {
    const slow = (tag: string) => `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'slow',
  routes: {
    2: { concurrent: true, handle: async (req) => { await globalThis.__enetGate; req.reply(2, '${tag}:' + req.text()) } },
  },
})
`
    const gate = deferred()
    ;(globalThis as Record<string, unknown>).__enetGate = gate.promise
    project = await createProject({ 'plugins/slow/index.ts': slow('old') })
    const p = project
    const c = await tcpClient(p)
    const first = ask(c, 2, 'first')
    await until(() => p.app.plugins.get('slow')!.inflight === 1)

    const reloaded = p.nextEvents(1, 'reloaded')
    p.write('plugins/slow/index.ts', slow('new'))
    await reloaded
    const second = ask(c, 2, 'second')
    gate.resolve()
    expect(await first).toBe('old:first')
    expect(await second).toBe('new:second')
    delete (globalThis as Record<string, unknown>).__enetGate
  })

  it('50 reloads under TCP and UDP load: no connection closed, no request lost or answered twice', async () => {
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('r0') })
    const p = project
    const stops: string[] = []
    p.app.server.hooks.onConnStop.tap('test', (_c, reason) => void stops.push(reason))
    const conns = [await tcpClient(p), await tcpClient(p), await tcpClient(p), await udpClient(p), await udpClient(p)]
    const seen = new Map<string, number>()
    for (const c of conns) {
      c.on('message', (m) => {
        const key = m.data.toString().split(':').slice(1).join(':')
        seen.set(key, (seen.get(key) ?? 0) + 1)
      })
    }
    let sent = 0
    let stop = false
    const failures: Error[] = []
    // Each client keeps 4 requests in flight until the reloads are done; bounded by count too.
    const loops = conns.flatMap((c, ci) =>
      Array.from({ length: 4 }, async (_, li) => {
        for (let i = 0; !stop && i < 5_000; i++) {
          const id = `${ci}.${li}.${i}`
          sent++
          try {
            await c.request(1, id, { timeoutMs: 3_000 })
          } catch (err) {
            failures.push(err as Error)
          }
        }
      }),
    )
    for (let n = 1; n <= 50; n++) {
      const reloaded = p.nextEvents(1, 'reloaded')
      p.write('plugins/echo/index.ts', echoPlugin(`r${n}`))
      await reloaded
    }
    stop = true
    await Promise.all(loops)
    expect(failures).toEqual([])
    expect(seen.size).toBe(sent)
    expect([...seen.values()].every((n) => n === 1)).toBe(true)
    expect(stops).toEqual([])
    expect(p.app.plugins.get('echo')!.version).toBe(51)
    expect(await ask(conns[0]!, 1, 'last')).toBe('r50:last')
  })

  it('ctx.data survives reload, the old interval stops, taps do not pile up over 100 reloads', async () => {
    const src = (tag: string) => `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'state',
  setup(ctx) {
    ctx.data.loads = (ctx.data.loads ?? 0) + 1
    ctx.data.ticks ??= {}
    ctx.setInterval(() => { ctx.data.ticks[ctx.version] = (ctx.data.ticks[ctx.version] ?? 0) + 1 }, 5)
    ctx.hooks.onConnStart.tap('count', () => { ctx.data.starts = (ctx.data.starts ?? 0) + 1 })
    ctx.hooks.afterHandle.tap('after', () => {})
  },
  routes: (ctx) => ({ 3: (req) => { req.reply(3, '${tag}:' + ctx.data.loads) } }),
})
`
    project = await createProject({ 'plugins/state/index.ts': src('a') })
    const p = project
    const hooks = p.app.server.hooks
    const before = { start: hooks.onConnStart.taps.length, after: hooks.afterHandle.taps.length }
    const data = () => (p.app.plugins as unknown as { byName: Map<string, { data: Record<string, any> }> }).byName.get('state')!.data
    await until(() => (data().ticks[1] ?? 0) >= 2)

    const reloaded = p.nextEvents(1, 'reloaded')
    p.write('plugins/state/index.ts', src('b'))
    await reloaded
    await p.app.plugins.settled()
    const v1Ticks = data().ticks[1]
    await until(() => (data().ticks[2] ?? 0) >= 3)
    expect(data().ticks[1]).toBe(v1Ticks)

    for (let i = 0; i < 100; i++) await p.app.plugins.reload('state')
    await p.app.plugins.settled()
    expect(hooks.onConnStart.taps.length).toBe(before.start)
    expect(hooks.afterHandle.taps.length).toBe(before.after)
    expect(hooks.onConnStart.taps.filter((t) => t.name === 'plugin:state/count')).toHaveLength(1)

    const c = await tcpClient(p)
    expect(await ask(c, 3, '')).toBe('b:102')
    await until(() => data().starts === 1)
    // Only the live version's interval still ticks.
    await until(() => data().ticks[102] >= 1)
    const snapshot = { ...data().ticks }
    await until(() => data().ticks[102] > snapshot[102] + 2)
    for (const v of Object.keys(snapshot).filter((v) => v !== '102')) expect(data().ticks[v]).toBe(snapshot[v])
  })

  it('a local .ts file that index.ts imports reloads with it: good → broken → good', async () => {
    const index = `import { definePlugin } from 'enet'
import { tag } from '../lib.ts'
export default definePlugin({ name: 'echo', routes: { 1: (req) => { req.reply(1, tag() + ':' + req.text()) } } })
`
    const lib = (t: string) => `export const tag = (): string => '${t}'\n`
    project = await createProject({ 'plugins/echo/index.ts': index, 'plugins/echo/lib.ts': lib('lib1') })
    const p = project
    const libFile = join(p.root, 'plugins', 'echo', 'lib.ts')
    const c = await tcpClient(p)
    expect(await ask(c, 1, 'a')).toBe('lib1:a')

    const reloaded = p.nextEvents(1, 'reloaded')
    p.write('plugins/echo/lib.ts', lib('lib2'))
    expect((await reloaded)[0]).toMatchObject({ plugin: 'echo', from: 'v1', to: 'v2' })
    expect(await ask(c, 1, 'b')).toBe('lib2:b')

    const failed = p.nextEvents(1, 'failed')
    p.write('plugins/echo/lib.ts', `throw new Error('boom in lib')`)
    await failed
    expect(await ask(c, 1, 'c')).toBe('lib2:c')
    // The event and the log name the plugin's entry file; the cause's stack names lib.ts.
    const line = p.logs.lines.find((l) => l.outcome === 'failed')!
    expect(line).toMatchObject({ level: 50, plugin: 'echo', file: join(p.root, 'plugins', 'echo', 'index.ts'), err: { message: 'boom in lib' } })
    expect((line.err as { stack: string }).stack).toContain(libFile)

    const mended = p.nextEvents(1, 'reloaded')
    p.write('plugins/echo/lib.ts', lib('lib3'))
    expect((await mended)[0]).toMatchObject({ plugin: 'echo', from: 'v2', to: 'v3' })
    expect(await ask(c, 1, 'd')).toBe('lib3:d')
    expect(c.connected).toBe(true)
  })

  it('a stop during the setup of a reload: the new version never serves, its timers never run, close() resolves', async () => {
    const g = globalThis as { enetTestGate?: { started(): void; wait: Promise<void> }; enetTestTicks?: number; enetTestDisposed?: boolean }
    const started = deferred()
    const gate = deferred()
    g.enetTestGate = { started: () => started.resolve(), wait: gate.promise }
    g.enetTestTicks = 0
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('v1') })
    const p = project
    project = undefined
    p.write(
      'plugins/echo/index.ts',
      `import { definePlugin } from 'enet'
const g = globalThis as any
export default definePlugin({
  name: 'echo',
  async setup(ctx) {
    g.enetTestGate.started()
    await g.enetTestGate.wait
    ctx.setInterval(() => g.enetTestTicks++, 5)
  },
  async dispose() {
    await new Promise((r) => setTimeout(r, 100))
    g.enetTestDisposed = true
  },
  routes: { 1: (req) => { req.reply(1, 'v2:' + req.text()) } },
})
`,
    )
    await started.promise
    const closed = p.close()
    // Released once close() has unloaded v1 and is waiting on the reload.
    setTimeout(() => gate.resolve(), 100)
    await closed
    // close() waited for v2's async dispose, not only for v1's.
    expect(g.enetTestDisposed).toBe(true)
    expect(p.events.filter((e) => e.to === 'v2')).toEqual([])
    expect(p.app.plugins.get('echo')!.status).not.toBe('active')
    // The interval v2 set in its setup was cleared with it: give it time to tick if it were not.
    await new Promise((r) => setTimeout(r, 50))
    expect(g.enetTestTicks).toBe(0)
    delete g.enetTestGate
    delete g.enetTestTicks
    delete g.enetTestDisposed
  })

  it('refuses a msgId clash between two plugins, naming both', async () => {
    project = await createProject({
      'plugins/alpha/index.ts': echoPlugin('alpha', 7, 'alpha'),
    })
    const p = project
    const failed = p.nextEvents(1, 'failed')
    p.write('plugins/beta/index.ts', echoPlugin('beta', 7, 'beta'))
    const [e] = await failed
    expect(e!.plugin).toBe('beta')
    expect(e!.error!.message).toMatch(/beta/)
    expect(e!.error!.message).toMatch(/plugin:alpha/)
    expect((await p.app.server.inject({ msgId: 7, data: 'x' }))[0]!.data.toString()).toBe('alpha:x')
  })

  it('failures keep the old version: throw at import, setup throws, setup hangs, bad routes', async () => {
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('good') }, { flags: { plugins: { setupTimeoutMs: 200 } } })
    const p = project
    const broken = [
      `throw new Error('boom at import')`,
      `export default { name: 'echo', setup() { throw new Error('boom in setup') } }`,
      `export default { name: 'echo', setup() { return new Promise(() => {}) } }`,
      `export default { name: 'echo', routes: { 1: 42 } }`,
      `export default { name: 'echo', routes: { [-1]: () => {} } }`,
      `export default 'not a plugin'`,
    ]
    const causes = [/boom at import/, /boom in setup/, /did not finish within 200 ms/, /expected a function/, /msgId must be an integer/, /default export/]
    for (const [i, src] of broken.entries()) {
      const failed = p.nextEvents(1, 'failed')
      p.write('plugins/echo/index.ts', src)
      const [e] = await failed
      expect(e!.error!.message).toMatch(causes[i]!)
      expect((await p.app.server.inject({ msgId: 1, data: String(i) }))[0]!.data.toString()).toBe(`good:${i}`)
    }
    const ok = p.nextEvents(1, 'reloaded')
    p.write('plugins/echo/index.ts', echoPlugin('mended'))
    await ok
    expect((await p.app.server.inject({ msgId: 1, data: 'z' }))[0]!.data.toString()).toBe('mended:z')
  })

  it('a new folder loads and a removed folder unloads: its msgIds become unknown', async () => {
    project = await createProject({})
    const p = project
    const loaded = p.nextEvents(1, 'loaded')
    p.write('plugins/late/index.ts', echoPlugin('late', 5, 'late'))
    await loaded
    expect((await p.app.server.inject({ msgId: 5, data: 'x' }))[0]!.data.toString()).toBe('late:x')
    const unloaded = p.nextEvents(1, 'unloaded')
    p.remove('plugins/late')
    await unloaded
    expect(await p.app.server.inject({ msgId: 5, data: 'x' })).toEqual([])
    expect(p.app.server.counters['drop.unknown-msgid']).toBe(1)
  })

  it('`enet` inside a plugin is the running core, wherever the folder lives', async () => {
    project = await createProject({
      'plugins/probe/index.ts': `import * as enet from 'enet'
export default enet.definePlugin({ name: 'probe', setup: () => enet })`,
    })
    const api = (project.app.plugins as unknown as { byName: Map<string, { current: { api: unknown } }> }).byName.get('probe')!.current.api as typeof core
    expect(api.definePlugin).toBe(core.definePlugin)
    expect(api.createServer).toBe(core.createServer)
  })
})

describe('a plugin folder that appears while the server runs loads once', () => {
  const ways: Array<[string, (p: Project) => Promise<void>]> = [
    ['folder and entry file written at once', async (p) => p.write('plugins/late/index.ts', echoPlugin('late', 5, 'late'))],
    [
      'folder made, then its files (the entry file and a module it imports)',
      async (p) => {
        mkdirSync(join(p.root, 'plugins', 'late'))
        p.write('plugins/late/reply.ts', `export const tag = 'late'\n`)
        p.write('plugins/late/index.ts', echoPlugin('late', 5, 'late').replace("import { definePlugin } from 'enet'", "import { definePlugin } from 'enet'\nimport { tag } from './reply.ts'"))
      },
    ],
    ['copied in (cp -r)', async (p) => void execFileSync('cp', ['-r', outside(p), join(p.root, 'plugins', 'late')])],
    ['moved in from outside the plugin folder (mv)', async (p) => renameSync(outside(p), join(p.root, 'plugins', 'late'))],
  ]
  /** A finished plugin folder beside plugins/, to copy or move in. */
  const outside = (p: Project) => {
    const dir = join(p.root, 'staging', 'late')
    if (!existsSync(dir)) p.write('staging/late/index.ts', echoPlugin('late', 5, 'late'))
    return dir
  }

  for (const [name, make] of ways) {
    it(name, async () => {
      project = await createProject({})
      const p = project
      outside(p)
      const loaded = p.nextEvents(1, 'loaded')
      await make(p)
      await loaded
      // Barrier passed (it loaded); now prove no second load or reload follows.
      await quiet()
      expect(p.events.map((e) => [e.plugin, e.outcome])).toEqual([['late', 'loaded']])
      expect(p.app.plugins.get('late')).toMatchObject({ version: 1, status: 'active' })
      expect(await answer(p, 5, 'x')).toBe('late:x')
    })
  }
})

describe('one reload per save', () => {
  const patterns: Array<[string, (p: Project, text: string) => Promise<void>]> = [
    [
      'chunked write',
      async (p, text) => {
        const { openSync, writeSync, closeSync } = await import('node:fs')
        const fd = openSync(`${p.root}/plugins/echo/index.ts`, 'w')
        for (let i = 0; i < text.length; i += 16) {
          writeSync(fd, text.slice(i, i + 16))
          await new Promise((r) => setImmediate(r))
        }
        closeSync(fd)
      },
    ],
    ['write then rename', async (p, text) => p.writeAtomic('plugins/echo/index.ts', text)],
    [
      // Both in one go: chokidar folds an unlink and an add within 100 ms into a change.
      'delete then recreate at once',
      async (p, text) => {
        p.remove('plugins/echo/index.ts')
        p.write('plugins/echo/index.ts', text)
      },
    ],
    [
      // The recreate waits until the watcher has reported the unlink, so the
      // folder really is without its entry file for a while: the host's
      // removeGraceMs must keep that from becoming an unload and a load.
      'delete, watcher sees it, then recreate',
      async (p, text) => {
        const file = join(p.root, 'plugins', 'echo', 'index.ts')
        const watcher = chokidarOf(p)
        const unlinked = new Promise<void>((resolve) => {
          const onUnlink = (path: string) => {
            if (path !== file) return
            watcher.off('unlink', onUnlink)
            resolve()
          }
          watcher.on('unlink', onUnlink)
        })
        p.remove('plugins/echo/index.ts')
        await unlinked
        p.write('plugins/echo/index.ts', text)
      },
    ],
  ]
  for (const [name, save] of patterns) {
    it(`${name} gives exactly one reload`, async () => {
      project = await createProject({ 'plugins/echo/index.ts': echoPlugin('before') })
      const p = project
      const start = p.events.length
      const reloaded = p.nextEvents(1, 'reloaded')
      await save(p, echoPlugin('after'))
      await reloaded
      // Barrier passed (the reload happened); now prove no second reload and no unload follow.
      await quiet()
      expect(p.events.slice(start).map((e) => e.outcome)).toEqual(['reloaded'])
      expect(await answer(p, 1, 'x')).toBe('after:x')
    })
  }

  it('a save written in chunks over longer than the write-finish window gives one reload, of the whole file', async () => {
    // The watcher settles a file once its size has stayed the same for 50 ms
    // (awaitWriteFinish stabilityThreshold: core/runtime/app.ts stabilityMs) and then
    // debounceMs of quiet. A writer whose pauses stay under that window is
    // waited for however long the whole write takes: here 8 chunks 25 ms
    // apart, ~175 ms in all, over three times the window. (A writer pausing
    // longer than 50 ms mid-file is taken as two saves: the half file fails to
    // load and the old version keeps serving until the whole file loads.)
    const PAUSE_MS = 25
    const CHUNKS = 8
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('before') })
    const p = project
    const file = join(p.root, 'plugins', 'echo', 'index.ts')
    const text = echoPlugin('after')
    const size = Math.ceil(text.length / CHUNKS)
    const start = p.events.length
    const errorsBefore = p.logs.lines.filter((l) => l.level >= 50).length
    const reloaded = p.nextEvents(1, 'reloaded')
    truncateSync(file, 0)
    for (let i = 0; i < CHUNKS; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, PAUSE_MS))
      appendFileSync(file, text.slice(i * size, (i + 1) * size))
    }
    await reloaded
    await quiet()
    // A half file loaded shows up as a 'failed' event (it does not parse, or
    // its prefix runs and throws) or as a reload that answers wrongly.
    expect(p.events.slice(start).map((e) => e.outcome)).toEqual(['reloaded'])
    expect(p.logs.lines.filter((l) => l.level >= 50).slice(errorsBefore)).toEqual([])
    expect(await answer(p, 1, 'x')).toBe('after:x')
  })

  it('a burst of saves coalesces', async () => {
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('s0') })
    const p = project
    const start = p.events.length
    const reloaded = p.nextEvents(1, 'reloaded')
    for (let i = 1; i <= 10; i++) p.write('plugins/echo/index.ts', echoPlugin(`s${i}`))
    await reloaded
    // The first reload may have read an earlier save; the last one must win.
    await untilAnswers(p, 1, 'x', 's10:x')
    // Barrier passed (s10 answers); now prove nothing more follows.
    await quiet()
    const outcomes = p.events.slice(start).map((e) => e.outcome)
    expect(outcomes.length).toBeLessThanOrEqual(2)
    expect(outcomes.every((o) => o === 'reloaded')).toBe(true)
    expect(await answer(p, 1, 'x')).toBe('s10:x')
  })
})
