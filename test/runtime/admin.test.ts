// The admin socket over a real Unix socket: requests it refuses, and the
// bound on connections that never send their line.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { adminCommand } from '../../core/cli/admin.ts'
import { connect } from '../../core/client/index.ts'
import { AdminSocket, adminRequest, localAdmin, type AdminRequest } from '../../core/runtime/admin.ts'
import { startApp } from '../../core/index.ts'
import { logSink } from '../helpers/logs.ts'
import { createProject, echoPlugin, type Project } from '../helpers/project.ts'
import { until } from '../helpers/until.ts'

let project: Project | undefined
const extra: AdminSocket[] = []
const raw: net.Socket[] = []
afterEach(async () => {
  for (const s of raw.splice(0)) s.destroy()
  await Promise.all(extra.splice(0).map((a) => a.close()))
  await project?.close()
  project = undefined
})

const adminSock = (p: Project) => join(p.root, '.enet', 'admin.sock')

/** A connection that writes nothing unless told; `closed` has what it received and when the server closed it. */
async function rawConnect(path: string) {
  const socket = net.connect(path)
  raw.push(socket)
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const openedAt = performance.now()
  let text = ''
  socket.setEncoding('utf8')
  socket.on('data', (c: string) => (text += c))
  socket.on('error', () => {})
  const closed = new Promise<{ text: string; afterMs: number }>((resolve) => socket.once('close', () => resolve({ text, afterMs: performance.now() - openedAt })))
  return { socket, closed }
}

describe('admin requests', () => {
  it('reload without a plugin name is refused as such; a named reload still works', async () => {
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('a') })
    const path = adminSock(project)
    for (const req of [{ cmd: 'reload' }, { cmd: 'reload', name: '' }, { cmd: 'reload', name: 42 }]) {
      const reply = await adminRequest(path, req as AdminRequest)
      expect(reply.ok).toBe(false)
      expect(reply.error).toMatch(/^reload needs a plugin name, got /)
    }
    expect(await adminRequest(path, { cmd: 'reload', name: 'nope' })).toMatchObject({ ok: false, error: expect.stringMatching(/nope/) })
    expect(await adminRequest(path, { cmd: 'reload', name: 'echo' })).toMatchObject({ ok: true, plugin: { name: 'echo' } })
  })

  it('a JSON line that is not an object is refused, not answered with a TypeError', async () => {
    project = await createProject({})
    for (const line of ['null', '42', '"plugins"']) {
      const { socket, closed } = await rawConnect(adminSock(project))
      socket.write(line + '\n')
      expect(JSON.parse((await closed).text)).toEqual({ ok: false, error: 'expected a JSON object with a cmd' })
    }
  })
})

describe('admin connections that never send a line', () => {
  it('are closed at the idle bound, counted from connect even when bytes trickle in; a prompt request is answered', async () => {
    project = await createProject({})
    const idleMs = 300
    const admin = new AdminSocket(join(project.root, 'idle.sock'), project.app.server.log, localAdmin(project.app.server, project.app.plugins), { idleMs })
    extra.push(admin)
    await admin.listen()

    const silent = await Promise.all(Array.from({ length: 50 }, () => rawConnect(admin.path)))
    const trickle = await rawConnect(admin.path)
    const drip = setInterval(() => trickle.socket.write('{'), 50)
    try {
      const prompt = await adminRequest(admin.path, { cmd: 'status' })
      expect(prompt).toMatchObject({ ok: true })
      for (const { afterMs, text } of await Promise.all([...silent, trickle].map((c) => c.closed))) {
        expect(afterMs).toBeGreaterThanOrEqual(idleMs - 5)
        expect(afterMs).toBeLessThan(idleMs + 2_000)
        expect(JSON.parse(text)).toEqual({ ok: false, error: `no request line within ${idleMs} ms` })
      }
    } finally {
      clearInterval(drip)
    }
  })

  it('the default bound is generous enough for a slow client, and closing the app does not wait for silent connections', async () => {
    project = await createProject({})
    const path = adminSock(project)
    const slow = await rawConnect(path)
    const silent = await Promise.all(Array.from({ length: 20 }, () => rawConnect(path)))
    await new Promise((r) => setTimeout(r, 300))
    slow.socket.write(JSON.stringify({ cmd: 'status' }) + '\n')
    expect(JSON.parse((await slow.closed).text)).toMatchObject({ ok: true })

    const t0 = performance.now()
    const p = project
    project = undefined
    await p.close()
    expect(performance.now() - t0).toBeLessThan(2_000)
    for (const { text } of await Promise.all(silent.map((c) => c.closed))) expect(text).toBe('')
  })
})

describe('enet status', () => {
  const PLUGINS = fileURLToPath(new URL('../../plugins', import.meta.url))
  const sink = () => {
    let text = ''
    return { stream: new Writable({ write: (c, _e, cb) => ((text += c), cb()) }), text: () => text }
  }

  it('prints connections, non-zero counters and the bundled plugins stats; --json has them all', async () => {
    project = await createProject({}, { flags: { plugins: { dirs: [PLUGINS] } } })
    const p = project
    const file = join(p.root, 'enet.config.ts')
    const c = connect(`udp://127.0.0.1:${p.app.server.address().udp!.port}`)
    try {
      await c.ready()
      c.send(10, '127.0.0.1:7001')
      expect((await c.request(11, '', { replyId: 10, timeoutMs: 2_000 })).data.toString()).toBe('127.0.0.1:7001 ')
      c.send(4242, 'nobody routes this')
      await until(() => p.app.server.counters['drop.unknown-msgid'] === 1)

      const json = sink()
      expect(await adminCommand('status', ['--config', file, '--json'], json.stream)).toBe(0)
      const status = JSON.parse(json.text())
      expect(status).toMatchObject({ connections: 1, counters: { requests: 3, 'drop.unknown-msgid': 1 } })
      expect(status.plugins.heartbeat).toMatchObject({ version: 1, status: 'active', routes: [10, 11], lastError: null, stats: { live: 1, registered: 1 } })
      expect(status.plugins.heartbeat.lastReload).toMatchObject({ outcome: 'loaded', from: null, to: 'v1' })
      expect(status.plugins.heartbeat.report.nodes).toEqual([expect.objectContaining({ node: '127.0.0.1:7001', source: expect.stringMatching(/^udp 127\.0\.0\.1:\d+$/) })])
      expect(status.plugins.locator).toMatchObject({ stats: { locates: 0 } })
      expect(status.limits).toMatchObject({ maxConn: 10_000, udp: { maxPeers: 10_000 } })

      const text = sink()
      expect(await adminCommand('status', ['--config', file], text.stream)).toBe(0)
      const lines = text.text().split('\n')
      expect(lines[1]).toBe('connections  1 (tcp 0, udp 1)')
      expect(lines[2]).toBe('counters     requests 3, drop.unknown-msgid 1')
      expect(lines.find((l) => l.startsWith('heartbeat'))).toMatch(/^heartbeat +v1, registered 1.*live 1/)
      expect(lines).toContain('  nodes      127.0.0.1:7001')
    } finally {
      c.close()
    }
  })

  it('a plugin whose stats() throws or returns what JSON cannot hold spoils only its own entry', async () => {
    const plugin = (name: string, stats: string) => `export default { name: '${name}', setup: () => ({ stats: () => ${stats} }) }\n`
    project = await createProject({
      'plugins/bigint/index.ts': plugin('bigint', '({ n: 1n })'),
      'plugins/thrower/index.ts': plugin('thrower', '{ throw new Error("no stats today") }'),
      'plugins/fine/index.ts': plugin('fine', '({ n: 1 })'),
    })
    const file = join(project.root, 'enet.config.ts')
    for (let i = 0; i < 2; i++) {
      const json = sink()
      expect(await adminCommand('status', ['--config', file, '--json'], json.stream)).toBe(0)
      const { plugins } = JSON.parse(json.text())
      expect(plugins.fine.stats).toEqual({ n: 1 })
      expect(plugins.bigint.stats.error).toMatch(/^stats\(\) failed: .*BigInt/)
      expect(plugins.thrower.stats).toEqual({ error: 'stats() failed: no stats today' })
    }
  })
})


describe('admin socket file', () => {
  it('lives in a folder of mode 0700 and is itself 0600, even when the folder was made open', async () => {
    project = await createProject({})
    expect(statSync(join(project.root, '.enet')).mode & 0o777).toBe(0o700)
    expect(statSync(adminSock(project)).mode & 0o777).toBe(0o600)
    const open = join(project.root, 'open')
    mkdirSync(open)
    chmodSync(open, 0o777)
    const admin = new AdminSocket(join(open, 'a.sock'), project.app.server.log, localAdmin(project.app.server, project.app.plugins))
    extra.push(admin)
    await admin.listen()
    expect(statSync(open).mode & 0o777).toBe(0o700)
    const sock = statSync(admin.path)
    expect(sock.isSocket()).toBe(true)
    expect(sock.mode & 0o777).toBe(0o600)
  })

  it('a second server with the same admin.socket refuses to start and leaves the first one reachable', async () => {
    project = await createProject({ 'plugins/echo/index.ts': echoPlugin('a') })
    const path = adminSock(project)
    await expect(startApp({ cwd: project.root, logStream: logSink() })).rejects.toMatchObject({
      code: 'ENET_ERR_ADMIN_SOCKET',
      message: `admin.socket ${path}: a running server listens on it (stop it, or give this one another admin.socket)`,
    })
    expect(await adminRequest(path, { cmd: 'plugins' })).toMatchObject({ ok: true, plugins: [{ name: 'echo' }] })
  })

  it('refuses a socket folder that is a symbolic link', async () => {
    project = await createProject({})
    const elsewhere = mkdtempSync(join(tmpdir(), 'enet-admin-else-'))
    symlinkSync(elsewhere, join(project.root, 'link'))
    try {
      const admin = new AdminSocket(join(project.root, 'link', 'a.sock'), project.app.server.log, localAdmin(project.app.server, project.app.plugins))
      await expect(admin.listen()).rejects.toMatchObject({ code: 'ENET_ERR_ADMIN_SOCKET', message: expect.stringMatching(/is a symbolic link$/) })
    } finally {
      rmSync(elsewhere, { recursive: true, force: true })
    }
  })
})
