// Plugin faults in one process: a ctx timer that throws is that plugin's
// fault (logged with file:line, counted, reported), and plugins.faults
// decides: keep it, restart it with backoff (ctx.data kept), or unload it.
// What escapes to the process (stray promises, raw timers, listeners) is
// tested with a real `enet start` in test/e2e/supervise.test.ts.
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { adminCommand } from '../../core/cli/admin.ts'
import type { PluginEvent } from '../../core/hooks.ts'
import { LEVEL } from '../helpers/logs.ts'
import { createProject, type Project } from '../helpers/project.ts'
import { referenceTimer, until } from '../helpers/until.ts'

let project: Project | undefined
afterEach(async () => {
  delete (globalThis as { __crash?: boolean }).__crash
  await project?.close()
  project = undefined
})

/**
 * A plugin with a ctx timer that throws: msgId 9 arms it; once the test has
 * set globalThis.__crash, every later version arms it in its setup. msgId 1
 * answers `v<version> setups=<n>`.
 */
const crashy = (kind: 'setTimeout' | 'setInterval' = 'setTimeout', after = 5) => `import { definePlugin } from 'enet'
const arm = (ctx) =>
  ctx.${kind}(() => {
    throw new Error('bug in a timer of v' + ctx.version)
  }, ${after})
export default definePlugin({
  name: 'crashy',
  routes: (ctx) => ({ 1: (req) => { req.reply(1, 'v' + ctx.version + ' setups=' + ctx.data.setups) }, 9: () => { arm(ctx) } }),
  setup(ctx) {
    ctx.data.setups = (ctx.data.setups ?? 0) + 1
    if ((globalThis as any).__crash) arm(ctx)
  },
})
`

/** Start the crash loop: v1 arms its timer now, and every later version in its setup. */
async function crash(p: Project): Promise<void> {
  ;(globalThis as { __crash?: boolean }).__crash = true
  await p.app.server.inject({ msgId: 9 })
}

const faults = (policy: Record<string, unknown>) => ({ plugins: { faults: policy } })
const answer = async (p: Project) => (await p.app.server.inject({ msgId: 1 }))[0]?.data.toString()
const outcomes = (events: PluginEvent[]) => events.filter((e) => e.plugin === 'crashy').map((e) => `${e.outcome} ${e.from ?? '-'}→${e.to ?? '-'}`)

describe('a ctx timer that throws', () => {
  it("is the plugin's fault: logged with plugin, version, file:line and stack, counted, reported; with keep it serves on", async () => {
    project = await createProject({ 'plugins/crashy/index.ts': crashy() }, { flags: faults({ policy: 'keep' }) })
    const p = project
    ;(globalThis as { __crash?: boolean }).__crash = false
    await p.app.server.inject({ msgId: 9 })
    const [e] = await p.nextEvents(1, 'fault')
    expect(e).toMatchObject({ plugin: 'crashy', from: 'v1', to: 'v1', site: 'timer', error: { message: 'bug in a timer of v1' } })
    // The line is the source's (jiti keeps lines; columns move with its reformatting).
    expect(e!.at).toMatch(new RegExp(`^${p.root}/plugins/crashy/index.ts:4:\\d+$`))
    const [line] = p.logs.find('plugin crashy v1 fault (timer)', LEVEL.error)
    expect(line).toMatchObject({ plugin: 'crashy', version: 1, site: 'timer', at: e!.at, faults: 1, err: { message: 'bug in a timer of v1' } })
    expect(line!.msg).toMatch(/: bug in a timer of v1; it keeps running$/)
    expect((line!.err as { stack: string }).stack).toContain('crashy/index.ts:4')
    expect(p.app.server.counters['faults.plugin']).toBe(1)
    expect(p.app.plugins.get('crashy')).toMatchObject({ status: 'active', version: 1, faults: 1, restarts: 0, lastFault: `timer at ${e!.at}: bug in a timer of v1` })
    expect(await answer(p)).toBe('v1 setups=1')
    // enet status names the plugin that faulted and what became of it.
    let text = ''
    const out = new Writable({ write: (c, _e, cb) => ((text += c), cb()) })
    expect(await adminCommand('status', ['--config', join(p.root, 'enet.config.ts')], out)).toBe(0)
    expect(text.split('\n')).toContain(`faults       crashy active v1: 1 faults, 0 restarts; last: timer at ${e!.at}: bug in a timer of v1`)
  })

  it('restart: set up again after a backoff that doubles, ctx.data kept; past max faults in the window it is unloaded', async () => {
    project = await createProject({ 'plugins/crashy/index.ts': crashy() }, { flags: faults({ policy: 'restart', max: 3, backoffMs: 10, windowMs: 60_000 }) })
    const p = project
    await crash(p)
    await until(() => p.app.plugins.get('crashy')?.status === 'faulted', 5_000, 'crashy unloaded by the supervisor')
    expect(outcomes(p.events)).toEqual([
      'fault v1→v1',
      'restarted v1→v2',
      'fault v2→v2',
      'restarted v2→v3',
      'fault v3→v3',
      'restarted v3→v4',
      'fault v4→v4',
      'unloaded v4→-',
    ])
    const then = p.logs.find('plugin crashy v', LEVEL.error).map((l) => l.msg!.replace(/^.*; /, ''))
    expect(then).toEqual(['restarting in 10 ms', 'restarting in 20 ms', 'restarting in 40 ms', 'unloading it: more than 3 faults within 60000 ms'])
    expect(p.app.plugins.get('crashy')).toMatchObject({ status: 'faulted', version: 0, routes: [], faults: 4, restarts: 3 })
    expect(await p.app.server.inject({ msgId: 1 })).toEqual([])
  })

  it('a restarted version keeps ctx.data and serves; a save of the file starts a faulted plugin again with a clean window', async () => {
    project = await createProject({ 'plugins/crashy/index.ts': crashy('setTimeout', 5) }, { flags: faults({ policy: 'restart', max: 1, backoffMs: 0 }) })
    const p = project
    await crash(p)
    await p.nextEvents(1, 'restarted')
    await until(async () => (await answer(p)) === 'v2 setups=2', 2_000, 'v2 answers')
    await until(() => p.app.plugins.get('crashy')?.status === 'faulted', 5_000, 'crashy unloaded')
    ;(globalThis as { __crash?: boolean }).__crash = false
    p.write('plugins/crashy/index.ts', crashy('setTimeout', 60_000))
    await p.nextEvents(1, 'loaded')
    expect(await answer(p)).toBe('v3 setups=3')
    expect(p.app.plugins.get('crashy')).toMatchObject({ status: 'active', faults: 2, restarts: 1 })
  })

  it('unload: an interval that throws is borne max times, then the plugin is unloaded', async () => {
    project = await createProject({ 'plugins/crashy/index.ts': crashy('setInterval', 5) }, { flags: faults({ policy: 'unload', max: 2 }) })
    const p = project
    await p.app.server.inject({ msgId: 9 })
    await until(() => p.app.plugins.get('crashy')?.status === 'faulted', 5_000, 'crashy unloaded')
    expect(outcomes(p.events)).toEqual(['fault v1→v1', 'fault v1→v1', 'fault v1→v1', 'unloaded v1→-'])
    expect(p.app.plugins.get('crashy')).toMatchObject({ faults: 3, restarts: 0 })
  })

  it('plugins.faults.byPlugin overrides the policy of one plugin', async () => {
    project = await createProject(
      { 'plugins/crashy/index.ts': crashy() },
      { flags: faults({ policy: 'unload', max: 0, byPlugin: { crashy: { policy: 'keep' } } }) },
    )
    const p = project
    await p.app.server.inject({ msgId: 9 })
    await p.nextEvents(1, 'fault')
    expect(p.app.plugins.get('crashy')).toMatchObject({ status: 'active', faults: 1 })
  })
})

describe('nothing of a disposed version runs again', () => {
  it('timers a handler asks ctx for after its version was disposed never fire', async () => {
    const source = (tag: string) => `import { definePlugin } from 'enet'
const hits = (globalThis as any).__lateHits ??= []
export default definePlugin({
  name: 'late',
  routes: (ctx) => ({
    2: async (req) => {
      // Held until the test lets go: by then this version has been disposed.
      await (globalThis as any).__gate
      ctx.setTimeout(() => hits.push('${tag} timeout'), 1)
      ctx.setInterval(() => hits.push('${tag} interval'), 1)
      req.reply(2, '${tag} done')
    },
  }),
  setup(ctx) {
    ctx.onDispose(() => void hits.push('${tag} disposed'))
  },
})
`
    const g = globalThis as { __gate?: Promise<void>; __lateHits?: string[] }
    let release!: () => void
    g.__gate = new Promise<void>((r) => (release = r))
    g.__lateHits = []
    project = await createProject({ 'plugins/late/index.ts': source('v1') }, { flags: { plugins: { drainTimeoutMs: 20 } } })
    const p = project
    const running = p.app.server.inject({ msgId: 2 })
    await until(() => p.app.plugins.get('late')?.inflight === 1)
    p.write('plugins/late/index.ts', source('v2'))
    // v1 is not drained within 20 ms (its handler waits on the gate): it is disposed anyway.
    await until(() => g.__lateHits!.includes('v1 disposed'), 5_000, 'v1 disposed')
    release()
    expect((await running)[0]!.data.toString()).toBe('v1 done')
    // A 1 ms timer armed with the handler's calls would have fired long before this one.
    await referenceTimer(50)
    expect(g.__lateHits).toEqual(['v1 disposed'])
    expect(p.logs.find('ctx.setTimeout called after this version was disposed: the timer never fires', LEVEL.warn)).toHaveLength(1)
  })
})
