// The logging plugin, asserted on parsed JSON lines: connections at info,
// requests at debug, one line per failure, the level changed live from the
// config file, the per-source rate limit, and no double line per reload.
import { describe, expect, it } from 'vitest'
import { LOOPBACK_CONFIG } from '../helpers/project.ts'
import { LEVEL, type LogLine } from '../helpers/logs.ts'
import { until } from '../helpers/until.ts'
import { useBundled } from './bundled.ts'

const b = useBundled()

const failing = `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'failing',
  routes: {
    30: () => { throw new Error('boom') },
    31: { timeoutMs: 30, concurrent: true, handle: (req) => new Promise((resolve) => setTimeout(resolve, 200)) },
  },
})
`

const requestLines = (lines: LogLine[], msgId?: number) => lines.filter((l) => l.plugin === 'logging' && l.msg === 'request' && (msgId === undefined || l.msgId === msgId))

describe('logging plugin', () => {
  it('connection start and stop at info, with protocol, remote and reason', async () => {
    const p = await b.start()
    const c = await p.client('tcp')
    await c.request(11, '', { replyId: 10 })
    const port = c.localPort
    await c.close()
    await until(() => p.logs.find('connection stopped').length === 1)
    const [start] = p.logs.find('connection started', LEVEL.info)
    const [stop] = p.logs.find('connection stopped', LEVEL.info)
    expect(start).toMatchObject({ plugin: 'logging', protocol: 'tcp', remote: `127.0.0.1:${port}` })
    expect(stop).toMatchObject({ plugin: 'logging', protocol: 'tcp', remote: `127.0.0.1:${port}`, reason: 'peer-closed', conn: start!.conn })
    expect(typeof stop!.ms).toBe('number')
  })

  it('each request at debug: msgId, bytes, duration, outcome', async () => {
    const p = await b.start({}, { 'plugins/failing/index.ts': failing })
    const c = await p.client('udp')
    c.send(10, '127.0.0.1:4000')
    await c.request(11, 'xyz', { replyId: 10 })
    expect(requestLines(p.logs.lines, 10)[0]).toMatchObject({ level: LEVEL.debug, bytes: 14, outcome: 'ok', protocol: 'udp' })
    const list = requestLines(p.logs.lines, 11)[0]!
    expect(list).toMatchObject({ level: LEVEL.debug, bytes: 3, outcome: 'ok' })
    expect(typeof list.ms).toBe('number')
  })

  it('a failed request is one line with the stack once (error; a timeout at warn), not one from the core and one from the plugin', async () => {
    const p = await b.start({}, { 'plugins/failing/index.ts': failing })
    const c = await p.client('udp')
    c.send(30, 'abc')
    c.send(31, '')
    await until(() => p.logs.lines.some((l) => l.msgId === 31 && l.outcome === 'timeout'))
    await c.request(11, '', { replyId: 10 }) // the connection's queue is past both: every line about them is written
    const about = (msgId: number) => p.logs.lines.filter((l) => l.msgId === msgId)
    const [failed, ...more] = about(30)
    expect(more).toEqual([])
    expect(failed).toMatchObject({ level: LEVEL.error, msgId: 30, bytes: 3, outcome: 'error', protocol: 'udp', remote: `127.0.0.1:${c.localPort}`, owner: 'plugin:failing' })
    expect(typeof failed!.ms).toBe('number')
    const stack = (failed!.err as { stack: string }).stack
    expect(stack.match(/Error: boom/g)).toHaveLength(1)
    expect(JSON.stringify(p.logs.lines).match(/Error: boom\\n/g)).toHaveLength(1)
    const [timedOut, ...again] = about(31)
    expect(again).toEqual([])
    expect(timedOut).toMatchObject({ level: LEVEL.warn, outcome: 'timeout', owner: 'plugin:failing' })
  })

  it('follows the level in enet.config.ts live: debug lines stop at info and come back at debug', async () => {
    const p = await b.start()
    const c = await p.client('tcp')
    await c.request(11, 'a', { replyId: 10 })
    expect(requestLines(p.logs.lines)).toHaveLength(1)

    p.write('enet.config.ts', LOOPBACK_CONFIG.replace("level: 'debug'", "level: 'info'"))
    expect(await p.app.reloadConfig()).toMatchObject({ outcome: 'applied', changed: ['log.level'] })
    await c.request(11, 'b', { replyId: 10 })
    expect(requestLines(p.logs.lines)).toHaveLength(1)

    p.write('enet.config.ts', LOOPBACK_CONFIG)
    expect(await p.app.reloadConfig()).toMatchObject({ outcome: 'applied', changed: ['log.level'] })
    await c.request(11, 'c', { replyId: 10 })
    expect(requestLines(p.logs.lines)).toHaveLength(2)
  })

  it('rate-limits lines per source IP and reports what it held back', async () => {
    const p = await b.start({ logging: { burst: 10, perSecond: 1 } })
    // Over TCP: UDP's own per-source msgId limits (udp.rateLimits) would stop this flood before any handler.
    const c = await p.client('tcp')
    for (let i = 0; i < 200; i++) c.send(11)
    let replies = 0
    c.on('message', () => replies++)
    await until(() => replies === 200, 2_000, '200 replies')
    const lines = requestLines(p.logs.lines)
    expect(lines.length).toBeGreaterThanOrEqual(8)
    expect(lines.length).toBeLessThanOrEqual(12)
    await until(() => p.logs.find('suppressed by the per-source rate limit').length === 1, 2_000, 'summary line')
    expect(p.logs.find('suppressed by the per-source rate limit', LEVEL.warn)[0]!.suppressed).toBeGreaterThanOrEqual(188)
  })

  it('a plugin reload is logged once (by the host), not twice', async () => {
    const p = await b.start()
    await p.app.plugins.reload('heartbeat')
    const lines = p.logs.lines.filter((l) => l.plugin === 'heartbeat' && l.outcome === 'reloaded')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: LEVEL.info, msg: 'plugin reloaded', from: 'v1', to: 'v2' })
  })
})
