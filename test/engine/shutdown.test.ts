// Graceful stop: in-flight requests finish and answer before their connection
// closes, onConnStop for everyone, no new connections, a bounded drain.
import { describe, expect, it } from 'vitest'
import type { CloseReason, Connection, Request } from '../../core/types.ts'
import { FrameClient } from '../helpers/frames.ts'
import { LEVEL } from '../helpers/logs.ts'
import { useHarness } from '../helpers/server.ts'
import { deferred, turns, until } from '../helpers/until.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)

function lifecycle(s: { hooks: { onConnStart: { tap(n: string, f: (c: Connection) => void): void }; onConnStop: { tap(n: string, f: (c: Connection, r: CloseReason) => void): void } } }) {
  const starts: Connection[] = []
  const stops: Array<{ conn: Connection; reason: CloseReason }> = []
  s.hooks.onConnStart.tap('test', (c) => void starts.push(c))
  s.hooks.onConnStop.tap('test', (conn, reason) => void stops.push({ conn, reason }))
  return { starts, stops }
}

describe('server.close()', () => {
  it('lets an in-flight request finish; its reply arrives before the connection closes', async () => {
    const gate = deferred()
    let started = false
    let rec!: ReturnType<typeof lifecycle>
    const { server, tcpPort, udpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      s.route(2, async (req) => {
        started = true
        await gate.promise
        req.reply(2, 'finished')
      })
      rec = lifecycle(s)
    })
    const busy = await h.tcp(tcpPort)
    const idle = await h.tcp(tcpPort)
    const u = await h.udp(udpPort)
    await idle.request(1, 'hi')
    await u.request(1, 'hi')
    let framesAtClose = -1
    busy.socket.on('close', () => (framesAtClose = busy.frames.length))
    busy.send(2)
    await until(() => started)

    let closed = false
    const closing = server.close().then(() => (closed = true))
    expect(server.close()).toBe(server.close())
    // Still draining: nothing is closed while the request runs.
    await turns(10)
    expect(closed).toBe(false)
    expect(rec.stops).toHaveLength(0)
    expect(busy.closed).toBe(false)
    gate.resolve()
    await closing
    expect(closed).toBe(true)
    await busy.waitClosed()
    expect(framesAtClose).toBe(1)
    expect(busy.frames[0]).toMatchObject({ msgId: 2, text: 'finished' })
    await idle.waitClosed()
    expect(rec.stops).toHaveLength(3)
    expect(new Set(rec.stops.map((s) => s.conn.id))).toEqual(new Set(rec.starts.map((c) => c.id)))
    expect(rec.stops.every((s) => s.reason === 'server-close')).toBe(true)
    expect(server.connections.size).toBe(0)
  })

  it('requests queued behind the in-flight one are answered too', async () => {
    const gate = deferred()
    let started = 0
    const { server, tcpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      s.route(2, async (req) => {
        started++
        await gate.promise
        req.reply(2, req.data)
      })
    })
    const c = await h.tcp(tcpPort)
    c.send(2, 'first')
    c.send(1, 'sync behind')
    c.send(2, 'async behind')
    await until(() => server.counters.requests === 3)
    const closing = server.close()
    gate.resolve()
    await closing
    await c.waitClosed()
    expect(c.frames.map((f) => f.text)).toEqual(['first', 'sync behind', 'async behind'])
  })

  it('refuses new connections once close has begun', async () => {
    const gate = deferred()
    let started = false
    let rec!: ReturnType<typeof lifecycle>
    const { server, tcpPort, udpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      s.route(2, async (req) => {
        started = true
        await gate.promise
        req.reply(2, 'done')
      })
      rec = lifecycle(s)
    })
    const busy = await h.tcp(tcpPort)
    const known = await h.udp(udpPort)
    await known.request(1, 'hello')
    busy.send(2)
    await until(() => started)
    const closing = server.close()
    await expect(FrameClient.connect(tcpPort)).rejects.toThrow(/ECONNREFUSED/)
    // A new UDP peer gets no session; a known one is still served while draining.
    const stranger = await h.udp(udpPort)
    await stranger.send(1, 'let me in')
    expect(await known.request(1, 'still here')).toMatchObject({ text: 'still here' })
    expect(stranger.frames).toHaveLength(0)
    expect(rec.starts).toHaveLength(2)
    gate.resolve()
    await closing
    expect(busy.frames.map((f) => f.text)).toEqual(['done'])
  })

  it('drainTimeoutMs bounds the wait for a handler that never settles', async () => {
    let started = false
    let rec!: ReturnType<typeof lifecycle>
    const { server, logs, tcpPort } = await h.start({ limits: { drainTimeoutMs: 100, handlerTimeoutMs: 60_000 } }, (s) => {
      s.route(2, () => {
        started = true
        return new Promise<void>(() => {})
      })
      rec = lifecycle(s)
    })
    const c = await h.tcp(tcpPort)
    c.send(2)
    await until(() => started)
    await server.close()
    expect(logs.find('drain timeout', LEVEL.warn)).toHaveLength(1)
    expect(rec.stops.map((s) => s.reason)).toEqual(['server-close'])
    await c.waitClosed()
    expect(c.frames).toHaveLength(0)
  })

  it('awaits async onClose taps, logs "closed", and cannot listen again', async () => {
    const order: string[] = []
    const { server, logs } = await h.start({}, (s) => {
      s.hooks.onClose.tapPromise('flush', async () => {
        await new Promise((r) => setImmediate(r))
        order.push('onClose done')
      })
      s.hooks.onConnStop.tap('test', () => void order.push('stop'))
    })
    await server.close()
    order.push('close resolved')
    expect(order).toEqual(['onClose done', 'close resolved'])
    expect(logs.find('closed', LEVEL.info)).toHaveLength(1)
    await expect(server.listen()).rejects.toMatchObject({ code: 'ENET_ERR_SERVER_CLOSED' })
  })

  it('a server that never listened closes cleanly', async () => {
    const { createServer } = await import('../../core/engine/server.ts')
    const { logSink } = await import('../helpers/logs.ts')
    const s = createServer({}, { logStream: logSink() })
    await s.close()
    await expect(s.listen()).rejects.toMatchObject({ code: 'ENET_ERR_SERVER_CLOSED' })
  })
})
