// Live config reload by editing enet.config.ts on disk, and the admin socket
// behind `enet plugins` / `enet reload`.
import { Writable } from 'node:stream'
import { execFileSync } from 'node:child_process'
import { closeSync, openSync, readFileSync, symlinkSync, writeSync } from 'node:fs'
import type { FSWatcher } from 'chokidar'
import { join, sep } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, type Client } from '../../core/client/index.ts'
import { adminCommand } from '../../core/cli/admin.ts'
import type { ConfigEvent } from '../../core/hooks.ts'
import { createProject, echoPlugin, type Project } from '../helpers/project.ts'
import { until } from '../helpers/until.ts'

let project: Project | undefined
const clients: Client[] = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()))
  await project?.close()
  project = undefined
})

const config = (body: string) => `import { defineConfig } from 'enet'
export default defineConfig({
  tcp: { host: '127.0.0.1', port: 0 },
  udp: { host: '127.0.0.1', port: 0 },
  plugins: { debounceMs: 20 },
  ${body}
})
`

const greeter = `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'greeter',
  options: { greeting: 'hello' },
  routes: (ctx) => ({ 4: (req) => { req.reply(4, ctx.options.greeting + ' ' + req.text()) } }),
})
`

async function configApplied(p: Project, edit: () => void): Promise<ConfigEvent> {
  const events: ConfigEvent[] = []
  p.app.server.hooks.onConfigEvent.tap('test', (e) => void events.push(e))
  edit()
  await until(() => events.length > 0, 5_000, 'a config event')
  return events[0]!
}

const greet = async (p: Project, who: string) => (await p.app.server.inject({ msgId: 4, data: who }))[0]?.data.toString()

describe('config reload', () => {
  it('applies log level, limits and plugin options live; the connection stays open', async () => {
    project = await createProject({ 'enet.config.ts': config(''), 'plugins/greeter/index.ts': greeter })
    const p = project
    const c = connect(`tcp://127.0.0.1:${p.app.server.address().tcp!.port}`, { reconnect: false })
    clients.push(c)
    await c.ready()
    expect(await greet(p, 'a')).toBe('hello a')
    expect(p.app.server.log.level).toBe('info')

    const reloaded = p.nextEvents(1, 'reloaded')
    const e = await configApplied(p, () =>
      p.write('enet.config.ts', config(`log: { level: 'debug' }, limits: { handlerTimeoutMs: 1234 }, plugins: { debounceMs: 20, options: { greeter: { greeting: 'hi' } } },`.replace('plugins: { debounceMs: 20 },\n  ', ''))),
    )
    expect(e.outcome).toBe('applied')
    expect(e.changed).toEqual(expect.arrayContaining(['log.level', 'limits.handlerTimeoutMs', 'plugins.options.greeter']))
    expect(e.restartNeeded).toEqual([])
    expect(p.app.server.log.level).toBe('debug')
    expect(p.app.server.config.limits.handlerTimeoutMs).toBe(1234)
    await reloaded
    expect(await greet(p, 'b')).toBe('hi b')
    const line = p.logs.lines.find((l) => l.msg === 'config reloaded')!
    expect(line).toMatchObject({ level: 30, restartNeeded: [] })
    expect((await c.request(4, 'over tcp', { timeoutMs: 2_000 })).data.toString()).toBe('hi over tcp')
    expect(c.connected).toBe(true)
  })

  it('a broken edit keeps the old config and says why; the next good save recovers', async () => {
    project = await createProject({})
    const p = project
    const bad = await configApplied(p, () => p.write('enet.config.ts', config(`limits: { maxConn: 'many' },`)))
    expect(bad.outcome).toBe('failed')
    expect(bad.error!.message).toMatch(/limits\.maxConn: expected number, got string/)
    expect(p.app.server.config.limits.maxConn).toBe(10_000)
    const line = p.logs.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('config reload failed'))!
    expect(line.level).toBe(50)
    expect(line.msg).toMatch(/limits\.maxConn/)
    // README.md shows this line as printed, the file named relative to the project.
    expect(readFileSync(new URL('../../README.md', import.meta.url), 'utf8')).toContain(line.msg!.replace(p.root + sep, ''))

    const syntax = await configApplied(p, () => p.write('enet.config.ts', 'export default {{'))
    expect(syntax.outcome).toBe('failed')
    expect(p.app.server.config.limits.maxConn).toBe(10_000)

    const good = await configApplied(p, () => p.write('enet.config.ts', config(`limits: { maxConn: 77 },`)))
    expect(good.outcome).toBe('applied')
    expect(p.app.server.config.limits.maxConn).toBe(77)
  })

  it('a config function that never resolves fails at the load deadline; the next good save applies', async () => {
    project = await createProject({}, { loadTimeoutMs: 300 })
    const p = project
    const hung = await configApplied(p, () => p.write('enet.config.ts', `export default () => new Promise(() => {})\n`))
    expect(hung.outcome).toBe('failed')
    expect(hung.error!.message).toMatch(/enet\.config\.ts: did not finish loading within 300 ms/)
    const good = await configApplied(p, () => p.write('enet.config.ts', config(`limits: { maxConn: 55 },`)))
    expect(good.outcome).toBe('applied')
    expect(p.app.server.config.limits.maxConn).toBe(55)
  })

  it('reports a port or codec change as needing a restart, and keeps serving on the old port', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter })
    const p = project
    const port = p.app.server.address().tcp!.port
    const e = await configApplied(p, () => p.write('enet.config.ts', config(`tcp: { host: '127.0.0.1', port: 1, codec: 'ltv-le' },`).replace("tcp: { host: '127.0.0.1', port: 0 },\n", '')))
    expect(e.outcome).toBe('applied')
    expect(e.restartNeeded).toEqual(expect.arrayContaining(['tcp.port', 'tcp.codec']))
    expect(p.logs.lines.some((l) => l.level === 40 && /tcp\.port.*needs a restart/.test(String(l.msg)))).toBe(true)
    const c = connect(`tcp://127.0.0.1:${port}`, { reconnect: false })
    clients.push(c)
    await c.ready()
    expect((await c.request(4, 'still', { timeoutMs: 2_000 })).data.toString()).toBe('hello still')
  })

  it('disables and re-enables a plugin from the config', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter })
    const p = project
    const unloaded = p.nextEvents(1, 'unloaded')
    await configApplied(p, () => p.write('enet.config.ts', config(`plugins: { debounceMs: 20, disabled: ['greeter'] },`).replace('plugins: { debounceMs: 20 },\n  ', '')))
    await unloaded
    expect(await greet(p, 'x')).toBeUndefined()
    expect(p.app.plugins.get('greeter')!.status).toBe('disabled')
    const loaded = p.nextEvents(1, 'loaded')
    await configApplied(p, () => p.write('enet.config.ts', config('')))
    await loaded
    expect(await greet(p, 'y')).toBe('hello y')
  })
})

describe('config reload: plugin folders', () => {
  it('moves plugins.dirs live: the new folder loads, the old one unloads, the connection stays', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter, 'more/echo/index.ts': echoPlugin('more', 5) })
    const p = project
    const c = connect(`tcp://127.0.0.1:${p.app.server.address().tcp!.port}`, { reconnect: false })
    clients.push(c)
    expect((await c.request(4, 'a', { timeoutMs: 2_000 })).data.toString()).toBe('hello a')
    const events = p.nextEvents(2)
    const e = await configApplied(p, () => p.write('enet.config.ts', config(`plugins: { debounceMs: 20, dirs: ['more'] },`).replace('plugins: { debounceMs: 20 },\n  ', '')))
    expect(e.outcome).toBe('applied')
    expect(e.changed).toContain('plugins.dirs')
    expect((await events).map((x) => [x.plugin, x.outcome]).sort()).toEqual([['echo', 'loaded'], ['greeter', 'unloaded']])
    expect((await c.request(5, 'b', { timeoutMs: 2_000 })).data.toString()).toBe('more:b')
    expect(await greet(p, 'gone')).toBeUndefined()
    // The watcher follows: a plugin dropped into the new folder loads.
    const loaded = p.nextEvents(1, 'loaded')
    p.write('more/late/index.ts', echoPlugin('late', 6, 'late'))
    await loaded
    expect((await c.request(6, 'c', { timeoutMs: 2_000 })).data.toString()).toBe('late:c')
    expect(c.connected).toBe(true)
  })

  it('the rescan loads a plugin folder the watcher never reported, and leaves known ones alone', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter }, { flags: { plugins: { watch: false } } })
    const p = project
    p.write('plugins/late/index.ts', echoPlugin('late', 6, 'late'))
    const loaded = p.nextEvents(1, 'loaded')
    await p.app.plugins.loadNew(p.app.server.config.plugins.dirs)
    expect((await loaded).map((e) => e.plugin)).toEqual(['late'])
    expect(p.app.plugins.get('greeter')).toMatchObject({ version: 1 })
    expect((await p.app.server.inject({ msgId: 6, data: 'x' }))[0]!.data.toString()).toBe('late:x')
  })

  it('a plugins.dirs entry that is a file is refused with the key named; the server keeps serving', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter })
    const p = project
    const e = await configApplied(p, () => p.write('enet.config.ts', config(`plugins: { debounceMs: 20, dirs: ['plugins', 'enet.config.ts'] },`).replace('plugins: { debounceMs: 20 },\n  ', '')))
    expect(e.outcome).toBe('failed')
    expect(e.error!.message).toMatch(/plugins\.dirs\[1\]: expected a folder, got the file .*enet\.config\.ts/)
    expect(await greet(p, 'still')).toBe('hello still')
    expect(p.app.server.config.plugins.dirs).toHaveLength(1)
  })

  it('skips what a plugin folder holds that cannot be read (a broken link) and loads the rest', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter })
    const p = project
    symlinkSync(join(p.root, 'nowhere'), join(p.root, 'plugins', 'dangling'))
    const reloaded = p.nextEvents(1, 'reloaded')
    const e = await configApplied(p, () => p.write('enet.config.ts', config(`plugins: { debounceMs: 20, options: { greeter: { greeting: 'hey' } } },`).replace('plugins: { debounceMs: 20 },\n  ', '')))
    expect(e.outcome).toBe('applied')
    await reloaded
    expect(await greet(p, 'x')).toBe('hey x')
  })

  it('reports log.pretty, plugins.watch and plugins.debounceMs as needing a restart', async () => {
    project = await createProject({})
    const p = project
    const e = await configApplied(p, () => p.write('enet.config.ts', config(`log: { pretty: true }, plugins: { debounceMs: 30, watch: false },`).replace('plugins: { debounceMs: 20 },\n  ', '')))
    expect(e.outcome).toBe('applied')
    expect(e.restartNeeded.sort()).toEqual(['log.pretty', 'plugins.debounceMs', 'plugins.watch'])
  })
})

describe('config reload: plugin options', () => {
  it('a misspelt or mistyped option is refused naming the key; the old version keeps serving; a fix applies', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter })
    const p = project
    const withOptions = (o: string) => config(`plugins: { debounceMs: 20, options: { greeter: ${o} } },`).replace('plugins: { debounceMs: 20 },\n  ', '')
    const typo = p.nextEvents(1, 'failed')
    p.write('enet.config.ts', withOptions(`{ greting: 'hi' }`))
    const [failed] = await typo
    expect(failed!.error!.message).toBe('plugin greeter: invalid config: plugins.options.greeter.greting: unknown option; greeter takes greeting')
    expect(await greet(p, 'a')).toBe('hello a')

    const wrongType = p.nextEvents(1, 'failed')
    p.write('enet.config.ts', withOptions(`{ greeting: 42 }`))
    expect((await wrongType)[0]!.error!.message).toMatch(/plugins\.options\.greeter\.greeting: expected string, got number$/)
    expect(await greet(p, 'b')).toBe('hello b')
    const line = p.logs.lines.filter((l) => l.level === 50).at(-1)!
    expect(line.msg).toMatch(/plugins\.options\.greeter\.greeting: expected string, got number/)

    const fixed = p.nextEvents(1, 'reloaded')
    p.write('enet.config.ts', withOptions(`{ greeting: 'hi' }`))
    await fixed
    expect(await greet(p, 'c')).toBe('hi c')
  })

  it('options for a plugin that is not loaded get one warning naming the key', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter })
    const p = project
    const e = await configApplied(p, () => p.write('enet.config.ts', config(`plugins: { debounceMs: 20, options: { greter: { greeting: 'hi' } } },`).replace('plugins: { debounceMs: 20 },\n  ', '')))
    expect(e.outcome).toBe('applied')
    const warn = p.logs.lines.filter((l) => l.level === 40 && /plugins\.options\.greter/.test(String(l.msg)))
    expect(warn).toHaveLength(1)
    expect(warn[0]!.msg).toBe('config: plugins.options.greter: no plugin named greter is loaded (known: greeter)')
  })
})

describe('enet plugins / enet reload', () => {
  const sink = () => {
    let text = ''
    const stream = new Writable({ write: (c, _e, cb) => ((text += c), cb()) })
    return { stream, text: () => text }
  }

  it('lists the running plugins and reloads one by name through the admin socket', async () => {
    project = await createProject({ 'plugins/greeter/index.ts': greeter })
    const p = project
    const file = join(p.root, 'enet.config.ts')
    const out = sink()
    expect(await adminCommand('plugins', ['--config', file], out.stream)).toBe(0)
    expect(out.text()).toMatch(/^NAME\s+VERSION\s+STATUS\s+ROUTES\s+TAPS\s+FAULTS\s+RESTARTS\s+LAST ERROR\s+LAST FAULT\n/)
    expect(out.text()).toMatch(/greeter\s+v1\s+active\s+4\s+0\s+0\s+0\s+-\s+-/)

    const json = sink()
    expect(await adminCommand('reload', ['greeter', '--config', file, '--json'], json.stream)).toBe(0)
    expect(JSON.parse(json.text())[0]).toMatchObject({ name: 'greeter', version: 2, status: 'active', routes: [4] })

    const err = sink()
    expect(await adminCommand('reload', ['nobody', '--config', file], sink().stream, err.stream)).toBe(1)
    expect(err.text()).toBe('enet: no plugin named nobody\n')
  })
})

describe('config reload: every way an editor saves is applied exactly once', () => {
  /** After a positive barrier: long enough for a stray event to become a second reload (see reload.test.ts QUIET_MS). */
  const quiet = () => new Promise((r) => setTimeout(r, 300))
  const FILE = 'enet.config.ts'
  /** The config watcher's chokidar instance (private): the only place that says "the watcher saw it". */
  const chokidarOf = (p: Project) => (p.app as unknown as { configWatcher: { watcher: FSWatcher } }).configWatcher.watcher

  async function track(p: Project) {
    const events: ConfigEvent[] = []
    p.app.server.hooks.onConfigEvent.tap('test', (e) => void events.push(e))
    return events
  }

  /** Saves maxConn = n one way; resolves when the save is written. */
  const patterns: Array<[string, (p: Project, n: number) => Promise<void>]> = [
    ['plain write', async (p, n) => p.write(FILE, config(`limits: { maxConn: ${n} },`))],
    [
      'chunked write',
      async (p, n) => {
        const text = config(`limits: { maxConn: ${n} },`)
        const fd = openSync(join(p.root, FILE), 'w')
        for (let i = 0; i < text.length; i += 16) {
          writeSync(fd, text.slice(i, i + 16))
          await new Promise((r) => setImmediate(r))
        }
        closeSync(fd)
      },
    ],
    ['write then rename', async (p, n) => p.writeAtomic(FILE, config(`limits: { maxConn: ${n} },`))],
    [
      'delete then recreate at once',
      async (p, n) => {
        p.remove(FILE)
        p.write(FILE, config(`limits: { maxConn: ${n} },`))
      },
    ],
    [
      'delete, watcher sees it, then recreate',
      async (p, n) => {
        const file = join(p.root, FILE)
        const watcher = chokidarOf(p)
        const unlinked = new Promise<void>((resolve) => {
          const onUnlink = (path: string) => {
            if (path !== file) return
            watcher.off('unlink', onUnlink)
            resolve()
          }
          watcher.on('unlink', onUnlink)
        })
        p.remove(FILE)
        await unlinked
        p.write(FILE, config(`limits: { maxConn: ${n} },`))
      },
    ],
    [
      // A save and a format-on-save: sed -i writes a temp file and renames it over the config.
      'two back-to-back sed -i',
      async (p, n) => {
        const file = join(p.root, FILE)
        execFileSync('sed', ['-i', `s/maxConn: [0-9]*/maxConn: ${n - 1}/`, file])
        execFileSync('sed', ['-i', `s/maxConn: [0-9]*/maxConn: ${n}/`, file])
      },
    ],
    [
      'ten saves in quick succession',
      async (p, n) => {
        for (let i = 9; i >= 0; i--) p.write(FILE, config(`limits: { maxConn: ${n - i} },`))
      },
    ],
  ]

  for (const [name, save] of patterns) {
    it(`${name}: applied once, and the next save is applied once too`, async () => {
      project = await createProject({ [FILE]: config(`limits: { maxConn: 100 },`) })
      const p = project
      const events = await track(p)
      for (const n of [200, 300]) {
        const start = events.length
        await save(p, n)
        await until(() => p.app.server.config.limits.maxConn === n, 5_000, `maxConn ${n} applied`)
        // Barrier passed (the save is live); now prove no second reload follows.
        await quiet()
        const mine = events.slice(start)
        expect(mine.map((e) => e.outcome)).toEqual(['applied'])
        expect(mine[0]!.changed).toEqual(['limits.maxConn'])
        expect(p.app.server.config.limits.maxConn).toBe(n)
      }
    })
  }

  it('a watcher error is logged once and the watcher is made again; later saves apply', async () => {
    project = await createProject({ [FILE]: config(`limits: { maxConn: 100 },`) })
    const p = project
    const events = await track(p)
    const first = chokidarOf(p)
    first.emit('error', Object.assign(new Error('watch ENOSPC'), { code: 'ENOSPC' }))
    await until(() => chokidarOf(p) !== first, 5_000, 'a new config watcher')
    const lines = p.logs.lines.filter((l) => /config watcher failed/.test(String(l.msg)))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 50, file: join(p.root, FILE), err: { message: 'watch ENOSPC' } })
    // The new watcher reads the file once when it is up (a save in the gap is not lost).
    await until(() => events.length === 1, 5_000, 'the catch-up read')
    expect(events[0]).toMatchObject({ outcome: 'applied', changed: [] })
    p.write(FILE, config(`limits: { maxConn: 222 },`))
    await until(() => p.app.server.config.limits.maxConn === 222, 5_000, 'the save after recovery')
    await quiet()
    expect(events.map((e) => e.outcome)).toEqual(['applied', 'applied'])
  })
})
