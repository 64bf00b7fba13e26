// Lifecycle and request hooks: exactly-once connection events with reasons,
// the beforeHandle bail, afterHandle outcomes, taps that throw, a frozen object.
import { describe, expect, it } from 'vitest'
import { createServer } from '../../core/engine/server.ts'
import type { CloseReason, Connection, Outcome, Request } from '../../core/types.ts'
import { logSink } from '../helpers/logs.ts'
import { testConfig, useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)

/** Records every start and stop, keyed by connection id. */
function lifecycle(server: { hooks: ReturnType<typeof createServer>['hooks'] }) {
  const starts: Connection[] = []
  const stops: Array<{ conn: Connection; reason: CloseReason }> = []
  server.hooks.onConnStart.tap('test', (conn) => void starts.push(conn))
  server.hooks.onConnStop.tap('test', (conn, reason) => void stops.push({ conn, reason }))
  return { starts, stops }
}

describe('onConnStart / onConnStop', () => {
  it('fire once each; reason peer-closed when the TCP client ends', async () => {
    let rec!: ReturnType<typeof lifecycle>
    const { server, tcpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      rec = lifecycle(s)
    })
    const c = await h.tcp(tcpPort)
    await c.request(1, 'hi')
    expect(rec.starts).toHaveLength(1)
    const conn = rec.starts[0]!
    expect(conn.protocol).toBe('tcp')
    expect(conn.remote.address).toBe('127.0.0.1')
    expect(conn.remote.port).toBe(c.socket.localPort)
    expect(server.connections.get(conn.id)).toBe(conn)
    c.socket.end()
    await until(() => rec.stops.length === 1)
    expect(rec.stops[0]).toEqual({ conn, reason: 'peer-closed' })
    expect(await conn.done).toBe('peer-closed')
    expect(conn.closed).toBe(true)
    expect(server.connections.size).toBe(0)
    // A second close is a no-op: still exactly one stop.
    conn.close('kicked')
    await server.close()
    expect(rec.stops).toHaveLength(1)
  })

  it('done: awaited while open, or first asked in onConnStop, it resolves with the close reason', async () => {
    let awaited: Promise<CloseReason> | undefined
    const inStop: Array<Promise<CloseReason>> = []
    const { tcpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      // Only the first connection is awaited from its start.
      s.hooks.onConnStart.tap('test', (conn) => void (awaited ??= conn.done))
      s.hooks.onConnStop.tap('test', (conn) => void inStop.push(conn.done))
    })
    const a = await h.tcp(tcpPort)
    await a.request(1, 'a')
    const b = await h.tcp(tcpPort)
    await b.request(1, 'b')
    a.socket.end()
    await until(() => inStop.length === 1)
    expect(inStop[0]).toBe(awaited)
    expect(await awaited).toBe('peer-closed')
    b.socket.resetAndDestroy()
    await until(() => inStop.length === 2)
    expect(await inStop[1]).toBe('peer-error')
  })

  it('a connection first asked for its remote after it ended still names its peer, and its per-IP slot is free', async () => {
    const seen: Array<{ address: string; port: number; family: string }> = []
    const { server, tcpPort } = await h.start({ limits: { maxConnPerIp: 1 } }, (s) => {
      s.route(1, echo)
      s.hooks.onConnStop.tap('test', (conn) => void seen.push({ ...conn.remote }))
    })
    const c = await h.tcp(tcpPort)
    await c.request(1, 'hi')
    const port = c.socket.localPort
    c.socket.end()
    await until(() => seen.length === 1)
    expect(seen[0]).toEqual({ address: '127.0.0.1', port, family: 'IPv4' })
    expect(server.connections.size).toBe(0)
    // maxConnPerIp 1: the slot the first one held was given back.
    const again = await h.tcp(tcpPort)
    expect((await again.request(1, 'again')).data.toString()).toBe('again')
  })

  it('reason peer-error when the client resets the connection', async () => {
    let rec!: ReturnType<typeof lifecycle>
    const { tcpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      rec = lifecycle(s)
    })
    const c = await h.tcp(tcpPort)
    await c.request(1, 'hi')
    c.socket.resetAndDestroy()
    await until(() => rec.stops.length === 1)
    expect(rec.stops[0]!.reason).toBe('peer-error')
  })

  it('reason server-close for every connection on server.close(); clients see the close', async () => {
    let rec!: ReturnType<typeof lifecycle>
    const { server, tcpPort, udpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      rec = lifecycle(s)
    })
    const a = await h.tcp(tcpPort)
    const b = await h.tcp(tcpPort)
    const u = await h.udp(udpPort)
    await a.request(1, 'a')
    await b.request(1, 'b')
    await u.request(1, 'u')
    expect(rec.starts.map((x) => x.protocol).sort()).toEqual(['tcp', 'tcp', 'udp'])
    await server.close()
    expect(rec.stops).toHaveLength(3)
    expect(new Set(rec.stops.map((s) => s.conn.id))).toEqual(new Set(rec.starts.map((s) => s.id)))
    expect(rec.stops.every((s) => s.reason === 'server-close')).toBe(true)
    await a.waitClosed()
    await b.waitClosed()
  })

  it('a UDP peer is a session: one start for many datagrams, idle-timeout ends it, the next datagram starts a new one', async () => {
    let rec!: ReturnType<typeof lifecycle>
    const { server, udpPort } = await h.start({ limits: { idleTimeoutMs: 150 } }, (s) => {
      s.route(1, echo)
      rec = lifecycle(s)
    })
    const u = await h.udp(udpPort)
    await u.request(1, 'a')
    await u.request(1, 'b')
    await u.request(1, 'c')
    expect(rec.starts).toHaveLength(1)
    expect(rec.starts[0]!.protocol).toBe('udp')
    expect(rec.starts[0]!.remote.port).toBe(u.localPort)
    await until(() => rec.stops.length === 1)
    expect(rec.stops[0]!.reason).toBe('idle-timeout')
    expect(rec.stops[0]!.conn).toBe(rec.starts[0])
    expect(server.counters['closed.idle-timeout']).toBe(1)
    expect(server.connections.size).toBe(0)
    await u.request(1, 'again')
    expect(rec.starts).toHaveLength(2)
    expect(rec.starts[1]!.id).not.toBe(rec.starts[0]!.id)
  })

  it('an idle TCP connection is closed with idle-timeout', async () => {
    let rec!: ReturnType<typeof lifecycle>
    const { server, tcpPort } = await h.start({ limits: { idleTimeoutMs: 100 } }, (s) => {
      s.route(1, echo)
      rec = lifecycle(s)
    })
    const c = await h.tcp(tcpPort)
    await c.request(1, 'once')
    await c.waitClosed()
    expect(rec.stops.map((s) => s.reason)).toEqual(['idle-timeout'])
    expect(server.counters['closed.idle-timeout']).toBe(1)
  })

  it('a connection with a running request is not idle-expired', async () => {
    let rec!: ReturnType<typeof lifecycle>
    let release!: () => void
    const { udpPort } = await h.start({ limits: { idleTimeoutMs: 60, handlerTimeoutMs: 10_000 } }, (s) => {
      s.route(1, echo)
      s.route(2, (req) => new Promise<void>((r) => (release = () => (req.reply(2, 'late but fine'), r()))))
      rec = lifecycle(s)
    })
    const busy = await h.udp(udpPort)
    await busy.send(2)
    await until(() => release !== undefined)
    // A peer that went quiet after `busy` did is the clock: once it expires, `busy` was idle longer.
    const quiet = await h.udp(udpPort)
    await quiet.request(1, 'x')
    await until(() => rec.stops.length >= 1)
    expect(rec.stops.map((s) => s.conn.remote.port)).toEqual([quiet.localPort])
    release()
    expect((await busy.waitFrames(1))[0]!.text).toBe('late but fine')
    await until(() => rec.stops.length === 2)
    expect(rec.stops[1]).toMatchObject({ reason: 'idle-timeout' })
    expect(rec.stops[1]!.conn.remote.port).toBe(busy.localPort)
  })
})

describe('kicking from onConnStart', () => {
  it('TCP: a connection closed by an onConnStart tap never dispatches', async () => {
    let ran = 0
    let rec!: ReturnType<typeof lifecycle>
    const { tcpPort } = await h.start({}, (s) => {
      s.route(1, (req) => {
        ran++
        req.reply(1, 'x')
      })
      s.hooks.onConnStart.tap('ban', (c) => c.close('kicked'))
      rec = lifecycle(s)
    })
    const c = await h.tcp(tcpPort)
    c.send(1, 'a')
    await c.waitClosed()
    expect(ran).toBe(0)
    expect(rec.stops.map((s) => s.reason)).toEqual(['kicked'])
  })

  it('UDP: a peer closed by an onConnStart tap does not get its first datagram handled', async () => {
    const ran: string[] = []
    let rec!: ReturnType<typeof lifecycle>
    const { udpPort } = await h.start({}, (s) => {
      s.route(1, (req) => {
        ran.push(req.text())
        req.reply(1, 'x')
      })
      s.hooks.onConnStart.tap('ban', (c) => c.close('kicked'))
      rec = lifecycle(s)
    })
    const u = await h.udp(udpPort)
    await u.send(1, 'first')
    await u.send(1, 'second')
    // Each datagram makes a session that the tap kicks at once.
    await until(() => rec.stops.length === 2)
    expect(rec.stops.map((s) => s.reason)).toEqual(['kicked', 'kicked'])
    expect(ran).toEqual([])
    expect(u.frames).toHaveLength(0)
  })
})

describe('beforeHandle / afterHandle', () => {
  it('a beforeHandle tap that returns a value stops the request', async () => {
    const handled: string[] = []
    const { server, tcpPort } = await h.start({}, (s) => {
      s.route(1, (req) => {
        handled.push(req.text())
        req.reply(1, req.data)
      })
      s.hooks.beforeHandle.tap('auth', (req) => (req.text().startsWith('deny') ? 'denied' : undefined))
    })
    const c = await h.tcp(tcpPort)
    c.send(1, 'deny me')
    expect(await c.request(1, 'allow me')).toMatchObject({ text: 'allow me' })
    expect(handled).toEqual(['allow me'])
    expect(c.frames).toHaveLength(1)
    expect(server.counters.bailed).toBe(1)
  })

  it('a bail on inject() yields no replies', async () => {
    const s = createServer(testConfig(), { logStream: logSink() })
    s.route(1, echo)
    s.hooks.beforeHandle.tap('deny-all', () => false)
    expect(await s.inject({ msgId: 1, data: 'x' })).toEqual([])
    expect(s.counters.bailed).toBe(1)
    await s.close()
  })

  it('an async beforeHandle tap stops the request and says why, once per second, not silently', async () => {
    const sink = logSink()
    const s = createServer(testConfig(), { logStream: sink })
    s.route(1, echo)
    s.hooks.beforeHandle.tap('async-guard', async () => undefined)
    for (let i = 0; i < 20; i++) expect(await s.inject({ msgId: 1, data: 'x' })).toEqual([])
    expect(s.counters.bailed).toBe(20)
    const lines = sink.lines.filter((l) => l.hook === 'beforeHandle')
    expect(lines.length).toBeGreaterThanOrEqual(1)
    expect(lines.length).toBeLessThanOrEqual(5)
    expect(lines[0]).toMatchObject({ level: 50, msg: expect.stringMatching(/^beforeHandle tap returned a Promise; beforeHandle is synchronous/) })
    await s.close()
  })

  it('afterHandle gets the request and an outcome with ms, sync and async', async () => {
    const seen: Array<{ msgId: number; outcome: Outcome }> = []
    const { tcpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      s.route(2, async (req) => {
        await new Promise((r) => setTimeout(r, 20))
        req.reply(2, 'slow')
      })
      s.hooks.afterHandle.tap('metrics', (req, outcome) => void seen.push({ msgId: req.msgId, outcome }))
    })
    const c = await h.tcp(tcpPort)
    await c.request(1, 'x')
    await c.request(2)
    await until(() => seen.length === 2)
    expect(seen[0]).toMatchObject({ msgId: 1, outcome: { status: 'ok' } })
    expect(seen[1]).toMatchObject({ msgId: 2, outcome: { status: 'ok' } })
    for (const s of seen) expect(s.outcome.ms).toBeGreaterThanOrEqual(0)
    // A timer of 20 ms cannot finish in less than ~19 ms.
    expect(seen[1]!.outcome.ms).toBeGreaterThanOrEqual(15)
  })
})

describe('taps that throw', () => {
  it('never crash the server; a throwing beforeHandle fails closed', async () => {
    let stops = 0
    const handled: string[] = []
    const { server, logs, tcpPort, udpPort } = await h.start({}, (s) => {
      s.route(1, (req) => {
        handled.push(req.text())
        req.reply(1, req.data)
      })
      s.hooks.onConnStart.tap('bad-start', () => {
        throw new Error('start tap broke')
      })
      s.hooks.onConnStop.tap('bad-stop', () => {
        stops++
        throw new Error('stop tap broke')
      })
      s.hooks.afterHandle.tap('bad-after', () => {
        throw new Error('after tap broke')
      })
      s.hooks.beforeHandle.tap('bad-before', (req) => {
        if (req.text() === 'trip') throw new Error('before tap broke')
      })
    })
    const c = await h.tcp(tcpPort)
    expect(await c.request(1, 'one')).toMatchObject({ text: 'one' })
    c.send(1, 'trip')
    expect(await c.request(1, 'two')).toMatchObject({ text: 'two' })
    expect(handled).toEqual(['one', 'two'])
    expect(server.counters.bailed).toBe(1)
    const u = await h.udp(udpPort)
    expect(await u.request(1, 'udp')).toMatchObject({ text: 'udp' })
    c.socket.end()
    await until(() => stops === 1)
    // A fresh connection is still served after all that.
    const d = await h.tcp(tcpPort)
    expect(await d.request(1, 'three')).toMatchObject({ text: 'three' })
    for (const hook of ['onConnStart', 'onConnStop', 'afterHandle', 'beforeHandle']) {
      expect(logs.lines.some((l) => l.hook === hook && l.level >= 50), `an error line for ${hook}`).toBe(true)
    }
  })
})

describe('the hooks object', () => {
  it('is frozen and holds tapable hooks with argument names', () => {
    const s = createServer(testConfig(), { logStream: logSink() })
    expect(Object.isFrozen(s.hooks)).toBe(true)
    expect(() => {
      ;(s.hooks as Record<string, unknown>).onConnStart = null
    }).toThrow(TypeError)
    expect(() => {
      ;(s.hooks as Record<string, unknown>).myHook = {}
    }).toThrow(TypeError)
    expect(s.hooks.onConnStop.taps).toEqual([])
    expect((s.hooks.onConnStop as unknown as { _args: string[] })._args).toEqual(['conn', 'reason'])
    expect((s.hooks.beforeHandle as unknown as { _args: string[] })._args).toEqual(['req'])
  })
})

describe('callHook', () => {
  it('logs a throwing observer tap once, naming the hook, and returns to the caller', async () => {
    const { callHook, createHooks } = await import('../../core/hooks.ts')
    const hooks = createHooks()
    const lines: Array<{ obj: { hook?: string; err?: Error }; msg: string }> = []
    const log = { error: (obj: object, msg: string) => void lines.push({ obj, msg }) }
    // No tap: nothing runs, nothing logged.
    callHook(hooks, 'onPluginMessage', log, 'x:y', 1)
    expect(lines).toEqual([])
    const seen: unknown[] = []
    hooks.onPluginMessage.tap('first', (topic, payload) => void seen.push([topic, payload]))
    hooks.onPluginMessage.tap('broken', () => {
      throw new Error('observer broke')
    })
    expect(() => callHook(hooks, 'onPluginMessage', log, 'x:y', 2)).not.toThrow()
    expect(seen).toEqual([['x:y', 2]])
    expect(lines).toHaveLength(1)
    expect(lines[0]!.msg).toBe('onPluginMessage tap threw')
    expect(lines[0]!.obj.hook).toBe('onPluginMessage')
    expect(lines[0]!.obj.err?.message).toBe('observer broke')
  })
})
