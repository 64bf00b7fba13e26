// Dispatch: echo on both transports, framing splits, ordering, concurrency,
// zinx router objects, failures, timeouts, unknown msgIds, route validation, inject().
import { describe, expect, it } from 'vitest'
import { EnetError } from '../../core/errors.ts'
import { createServer } from '../../core/engine/server.ts'
import type { Outcome, Request } from '../../core/types.ts'
import { LEVEL, logSink } from '../helpers/logs.ts'
import { testConfig, useHarness } from '../helpers/server.ts'
import { deferred, turns, until } from '../helpers/until.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)

describe('echo', () => {
  it('answers over TCP', async () => {
    const { tcpPort } = await h.start({}, (s) => s.route(1, echo))
    const c = await h.tcp(tcpPort)
    const f = await c.request(1, 'hello')
    expect(f).toMatchObject({ msgId: 1, text: 'hello' })
    // An empty frame is a frame too.
    expect(await c.request(1)).toMatchObject({ msgId: 1, text: '' })
  })

  it('answers over UDP, from the listening port', async () => {
    const { udpPort } = await h.start({}, (s) => s.route(1, echo))
    const c = await h.udp(udpPort)
    let from = -1
    c.socket.once('message', (_m, rinfo) => (from = rinfo.port))
    expect(await c.request(1, 'hello')).toMatchObject({ msgId: 1, text: 'hello' })
    expect(from).toBe(udpPort)
  })

  it('speaks the ltv-le codec (zinx <= 1.1.2) when configured', async () => {
    const { ltvLE } = await import('../../core/wire/codec.ts')
    const { tcpPort } = await h.start({ tcp: { codec: 'ltv-le' } }, (s) => s.route(10, echo))
    const c = await h.tcp(tcpPort, { codec: ltvLE })
    c.write(Buffer.from('0f0000000a000000', 'hex'))
    c.write(Buffer.from('127.0.0.1:12345'))
    expect(await c.waitFrames(1)).toEqual([{ msgId: 10, data: Buffer.from('127.0.0.1:12345'), text: '127.0.0.1:12345' }])
  })

  it('decodes many frames in one write, in order', async () => {
    const { tcpPort } = await h.start({}, (s) => s.route(1, echo))
    const c = await h.tcp(tcpPort)
    c.write(Buffer.concat(Array.from({ length: 50 }, (_, i) => c.encode(1, `m${i}`))))
    const frames = await c.waitFrames(50)
    expect(frames.map((f) => f.text)).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`))
  })

  it('decodes one frame split over many writes', async () => {
    const { server, tcpPort } = await h.start({}, (s) => s.route(1, echo))
    const c = await h.tcp(tcpPort)
    const body = 'x'.repeat(300)
    const bytes = c.encode(1, body)
    for (let i = 0; i < bytes.length; i += 7) {
      c.write(bytes.subarray(i, i + 7))
      // Each piece reaches the server as its own read before the next is written.
      await new Promise<void>((r) => c.socket.write('', () => r()))
      await turns(1)
    }
    const [f] = await c.waitFrames(1)
    expect(f).toMatchObject({ msgId: 1, text: body })
    expect(server.counters.requests).toBe(1)
  })
})

describe('ordering and concurrency', () => {
  it('keeps per-connection order when an async handler precedes sync ones', async () => {
    const gate = deferred()
    const calls: number[] = []
    const { server, tcpPort } = await h.start({}, (s) => {
      s.route(1, async (req) => {
        calls.push(1)
        await gate.promise
        req.reply(1, 'first')
      })
      s.route(2, (req) => {
        calls.push(2)
        req.reply(2, req.data)
      })
    })
    const c = await h.tcp(tcpPort)
    c.write(Buffer.concat([c.encode(1), c.encode(2, 'a'), c.encode(2, 'b')]))
    await until(() => server.counters.requests === 3)
    // All three arrived; the sync ones wait behind the running async one.
    expect(calls).toEqual([1])
    expect(c.frames).toHaveLength(0)
    gate.resolve()
    const frames = await c.waitFrames(3)
    expect(frames.map((f) => `${f.msgId}:${f.text}`)).toEqual(['1:first', '2:a', '2:b'])
    expect(calls).toEqual([1, 2, 2])
  })

  it('keeps order on UDP too', async () => {
    const gate = deferred()
    const { server, udpPort } = await h.start({}, (s) => {
      s.route(1, async (req) => {
        await gate.promise
        req.reply(1, 'first')
      })
      s.route(2, echo)
    })
    const c = await h.udp(udpPort)
    await c.send(1)
    await c.send(2, 'a')
    await c.send(2, 'b')
    await until(() => server.counters.requests === 3)
    expect(c.frames).toHaveLength(0)
    gate.resolve()
    expect((await c.waitFrames(3)).map((f) => f.text)).toEqual(['first', 'a', 'b'])
  })

  it('runs different connections concurrently', async () => {
    const gate = deferred()
    const { tcpPort } = await h.start({}, (s) => {
      s.route(1, async (req) => {
        await gate.promise
        req.reply(1, 'slow')
      })
      s.route(2, echo)
    })
    const a = await h.tcp(tcpPort)
    const b = await h.tcp(tcpPort)
    a.send(1)
    a.send(2, 'a-after-slow')
    // B is answered while A's slow request still holds A's queue.
    expect(await b.request(2, 'b')).toMatchObject({ msgId: 2, text: 'b' })
    expect(a.frames).toHaveLength(0)
    gate.resolve()
    expect((await a.waitFrames(2)).map((f) => f.text)).toEqual(['slow', 'a-after-slow'])
  })

  it('a concurrent route does not block later requests of the same connection', async () => {
    const gate = deferred()
    const { tcpPort } = await h.start({}, (s) => {
      s.route(20, {
        concurrent: true,
        async handle(req) {
          await gate.promise
          req.reply(20, 'located')
        },
      })
      s.route(2, echo)
    })
    const c = await h.tcp(tcpPort)
    c.send(20, 'thing')
    expect(await c.request(2, 'meanwhile')).toMatchObject({ msgId: 2, text: 'meanwhile' })
    expect(await c.request(2, 'again')).toMatchObject({ text: 'again' })
    gate.resolve()
    const frames = await c.waitFrames(3)
    expect(frames.map((f) => f.text)).toEqual(['meanwhile', 'again', 'located'])
  })

  it('runs a zinx router object as preHandle → handle → postHandle, with this bound', async () => {
    const order: string[] = []
    const { tcpPort } = await h.start({}, (s) =>
      s.route(5, {
        tag: 'r',
        async preHandle(this: { tag: string }, req: Request) {
          await Promise.resolve()
          order.push(`${this.tag}:pre:${req.text()}`)
        },
        handle(this: { tag: string }, req: Request) {
          order.push(`${this.tag}:handle`)
          req.reply(5, 'done')
        },
        postHandle(this: { tag: string }) {
          order.push(`${this.tag}:post`)
        },
      } as never),
    )
    const c = await h.tcp(tcpPort)
    await c.request(5, 'x')
    await until(() => order.length === 3)
    expect(order).toEqual(['r:pre:x', 'r:handle', 'r:post'])
  })
})

describe('failures', () => {
  it('a handler that throws or rejects fails only that request', async () => {
    const outcomes: Array<[number, Outcome['status']]> = []
    const { server, tcpPort } = await h.start({}, (s) => {
      s.route(3, () => {
        throw new Error('sync boom')
      })
      s.route(4, async () => {
        await Promise.resolve()
        throw new Error('async boom')
      })
      s.route(1, echo)
      s.hooks.afterHandle.tap('test', (req, outcome) => void outcomes.push([req.msgId, outcome.status]))
    })
    const c = await h.tcp(tcpPort)
    c.send(3)
    expect(await c.request(1, 'after-throw')).toMatchObject({ text: 'after-throw' })
    c.send(4)
    expect(await c.request(1, 'after-reject')).toMatchObject({ text: 'after-reject' })
    expect(outcomes).toEqual([
      [3, 'error'],
      [1, 'ok'],
      [4, 'error'],
      [1, 'ok'],
    ])
    expect(server.counters.failed).toBe(2)
    expect(c.closed).toBe(false)
  })

  it('afterHandle gets the wrapped error with code, msgId and cause', async () => {
    let seen: Outcome | undefined
    const { tcpPort } = await h.start({}, (s) => {
      s.route(3, () => {
        throw new Error('kaput')
      })
      s.hooks.afterHandle.tap('test', (_req, o) => void (seen = o))
    })
    const c = await h.tcp(tcpPort)
    c.send(3)
    await until(() => seen !== undefined)
    expect(seen!.status).toBe('error')
    const err = (seen as unknown as { error: EnetError }).error
    expect(err.code).toBe('ENET_ERR_HANDLER')
    expect(err.message).toContain('msgId 3')
    expect(err.message).toContain('kaput')
    expect((err.cause as Error).message).toBe('kaput')
  })

  it('a handler over handlerTimeoutMs times out; its late reply is not sent; the connection carries on', async () => {
    const gate = deferred()
    const outcomes: Outcome[] = []
    let lateReply: boolean | undefined
    const { server, tcpPort } = await h.start({ limits: { handlerTimeoutMs: 100 } }, (s) => {
      s.route(6, async (req) => {
        await gate.promise
        lateReply = req.reply(6, 'too late')
      })
      s.route(1, echo)
      s.hooks.afterHandle.tap('test', (_req, o) => void outcomes.push(o))
    })
    const c = await h.tcp(tcpPort)
    c.send(6)
    c.send(1, 'queued behind the slow one')
    const [f] = await c.waitFrames(1)
    expect(f).toMatchObject({ msgId: 1, text: 'queued behind the slow one' })
    expect(outcomes[0]).toMatchObject({ status: 'timeout' })
    expect(outcomes[0]!.ms).toBeGreaterThanOrEqual(90)
    expect((outcomes[0] as unknown as { error: EnetError }).error.code).toBe('ENET_ERR_HANDLER_TIMEOUT')
    expect(server.counters.timedOut).toBe(1)
    gate.resolve()
    await until(() => lateReply !== undefined)
    expect(lateReply).toBe(false)
    // Anything written after the late reply arrives after it: the marker proves nothing came first.
    expect(await c.request(1, 'marker')).toMatchObject({ text: 'marker' })
    expect(c.frames.map((x) => x.text)).toEqual(['queued behind the slow one', 'marker'])
    expect(outcomes).toHaveLength(3)
  })

  it('a route timeoutMs overrides handlerTimeoutMs', async () => {
    const outcomes: Outcome[] = []
    const { tcpPort } = await h.start({ limits: { handlerTimeoutMs: 60_000 } }, (s) => {
      s.route(6, { timeoutMs: 50, handle: () => new Promise<void>(() => {}) })
      s.hooks.afterHandle.tap('test', (_req, o) => void outcomes.push(o))
    })
    const c = await h.tcp(tcpPort)
    c.send(6)
    await until(() => outcomes.length === 1)
    expect(outcomes[0]!.status).toBe('timeout')
  })

  it('errorReplyId sends the error text back', async () => {
    const { tcpPort } = await h.start({ errorReplyId: 99, limits: { handlerTimeoutMs: 50 } }, (s) => {
      s.route(3, () => {
        throw new Error('no such node')
      })
      s.route(6, () => new Promise<void>(() => {}))
    })
    const c = await h.tcp(tcpPort)
    const f = await c.request(3)
    expect(f.msgId).toBe(99)
    expect(f.text).toContain('ENET_ERR_HANDLER')
    expect(f.text).toContain('no such node')
    const t = await c.request(6)
    expect(t.msgId).toBe(99)
    expect(t.text).toContain('ENET_ERR_HANDLER_TIMEOUT')
  })

  it('an unknown msgId is dropped, counted and logged', async () => {
    const drops: unknown[] = []
    const { server, logs, tcpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      s.hooks.onDrop.tap('test', (d) => void drops.push(d))
    })
    const c = await h.tcp(tcpPort)
    c.send(777, 'who?')
    // The next request is answered and nothing came for the unknown one.
    expect(await c.request(1, 'ok')).toMatchObject({ msgId: 1, text: 'ok' })
    expect(c.frames).toHaveLength(1)
    expect(server.counters['drop.unknown-msgid']).toBe(1)
    const [line] = logs.find('unknown msgId')
    expect(line).toMatchObject({ level: LEVEL.warn, msgId: 777 })
    expect(line!.remote).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(drops).toEqual([expect.objectContaining({ reason: 'unknown-msgid', msgId: 777 })])
  })

  it('an unknown msgId is dropped on UDP as well', async () => {
    const { server, udpPort } = await h.start({}, (s) => s.route(1, echo))
    const c = await h.udp(udpPort)
    await c.send(777)
    expect(await c.request(1, 'ok')).toMatchObject({ text: 'ok' })
    expect(c.frames).toHaveLength(1)
    expect(server.counters['drop.unknown-msgid']).toBe(1)
  })

  it('unknownMsgReplyId answers an unknown msgId', async () => {
    const { tcpPort } = await h.start({ unknownMsgReplyId: 98 })
    const c = await h.tcp(tcpPort)
    expect(await c.request(777)).toMatchObject({ msgId: 98, text: 'unknown msgId 777' })
  })

  it('an unknown msgId behind a running request waits its turn', async () => {
    const gate = deferred()
    const { tcpPort } = await h.start({ unknownMsgReplyId: 98 }, (s) =>
      s.route(1, async (req) => {
        await gate.promise
        req.reply(1, 'first')
      }),
    )
    const c = await h.tcp(tcpPort)
    c.send(1)
    c.send(777)
    gate.resolve()
    expect((await c.waitFrames(2)).map((f) => f.msgId)).toEqual([1, 98])
  })
})

describe('route registration', () => {
  it('a duplicate msgId throws ENET_ERR_ROUTE_DUPLICATE naming both owners', () => {
    const s = createServer(testConfig(), { logStream: logSink() })
    s.route(10, echo, 'plugin:heartbeat')
    let err: unknown
    try {
      s.route(10, echo, 'plugin:other')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(EnetError)
    expect((err as EnetError).code).toBe('ENET_ERR_ROUTE_DUPLICATE')
    expect((err as Error).message).toContain('plugin:heartbeat')
    expect((err as Error).message).toContain('plugin:other')
    expect((err as Error).message).toContain('10')
    // The first owner keeps it; after unroute the id is free again.
    expect(s.unroute('plugin:heartbeat')).toBe(1)
    s.route(10, echo, 'plugin:other')
  })

  it.each([
    ['a negative msgId', -1, echo],
    ['a fractional msgId', 1.5, echo],
    ['a msgId above u32', 2 ** 32, echo],
    ['null', 1, null],
    ['a number', 1, 42],
    ['an object without handle', 1, { preHandle: echo }],
    ['a non-function handle', 1, { handle: 'nope' }],
    ['a non-function postHandle', 1, { handle: echo, postHandle: 3 }],
    ['timeoutMs 0', 1, { handle: echo, timeoutMs: 0 }],
    ['timeoutMs fractional', 1, { handle: echo, timeoutMs: 1.5 }],
    ['the reserved cookie msgId 0xFFFFFF00', 0xffffff00, echo],
    ['the reserved cookie msgId 0xFFFFFF02', 0xffffff02, echo],
  ])('rejects %s with ENET_ERR_ROUTE_INVALID', (_what, msgId, def) => {
    const s = createServer(testConfig(), { logStream: logSink() })
    expect(() => s.route(msgId, def as never)).toThrowError(expect.objectContaining({ code: 'ENET_ERR_ROUTE_INVALID' }))
    expect(s.router.list()).toHaveLength(0)
  })
})

describe('inject()', () => {
  it('returns replies of sync and async handlers without any socket', async () => {
    const s = createServer(testConfig(), { logStream: logSink() })
    s.route(1, (req) => {
      req.reply(1, req.data)
      req.reply(2, 'second')
    })
    s.route(3, async (req) => {
      await new Promise((r) => setImmediate(r))
      req.reply(3, `${req.text()} from ${req.remote.address} over ${req.conn.protocol}`)
    })
    expect(await s.inject({ msgId: 1, data: 'sync' })).toEqual([
      { msgId: 1, data: Buffer.from('sync') },
      { msgId: 2, data: Buffer.from('second') },
    ])
    const [r] = await s.inject({ msgId: 3, data: 'async', protocol: 'udp', remote: { address: '10.0.0.9' } })
    expect(r!.data.toString()).toBe('async from 10.0.0.9 over udp')
    expect(await s.inject({ msgId: 404 })).toEqual([])
    expect(s.address()).toEqual({})
    await s.close()
  })

  it('inject() of a failing handler resolves with the error reply', async () => {
    const s = createServer(testConfig({ errorReplyId: 99 }), { logStream: logSink() })
    s.route(3, async () => {
      throw new Error('bad')
    })
    const [r] = await s.inject({ msgId: 3 })
    expect(r!.msgId).toBe(99)
    expect(r!.data.toString()).toContain('bad')
    await s.close()
  })
})
