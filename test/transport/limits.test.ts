// Hardening: oversized and slow frames, bad datagrams, connection limits,
// in-flight bounds with backpressure, slow consumers, the UDP peer bound.
import type net from 'node:net'
import { describe, expect, it } from 'vitest'
import { connect } from '../../core/client/index.ts'
import { tlvDatagram } from '../../core/wire/codec.ts'
import type { CloseReason, Connection, Request } from '../../core/types.ts'
import { FrameClient } from '../helpers/frames.ts'
import { LEVEL } from '../helpers/logs.ts'
import { useHarness } from '../helpers/server.ts'
import { UdpClient } from '../helpers/udp.ts'
import { deferred, turns, until } from '../helpers/until.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)

function header(msgId: number, len: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt32BE(msgId, 0)
  b.writeUInt32BE(len, 4)
  return b
}

function stopsOf(server: { hooks: { onConnStop: { tap(name: string, fn: (c: Connection, r: CloseReason) => void): void } } }) {
  const stops: Array<{ conn: Connection; reason: CloseReason }> = []
  server.hooks.onConnStop.tap('test', (conn, reason) => void stops.push({ conn, reason }))
  return stops
}

describe('TCP frames', () => {
  it('a declared length over maxPacketSize closes the connection after only the 8-byte header', async () => {
    let stops!: ReturnType<typeof stopsOf>
    const { server, logs, tcpPort } = await h.start({ limits: { maxPacketSize: 1024 } }, (s) => {
      s.route(1, echo)
      stops = stopsOf(s)
    })
    const good = await h.tcp(tcpPort)
    const bad = await h.tcp(tcpPort)
    await good.request(1, 'before')
    const badPort = bad.socket.localPort
    // No body follows: the server must decide from the header alone.
    bad.write(header(1, 0xfffffff0))
    await bad.waitClosed()
    await until(() => stops.length === 1)
    expect(stops[0]!.reason).toBe('frame-too-large')
    expect(stops[0]!.conn.remote.port).toBe(badPort)
    expect(server.counters['closed.frame-too-large']).toBe(1)
    expect(logs.lines.some((l) => l.level === LEVEL.warn && /closing connection/.test(l.msg ?? ''))).toBe(true)
    expect(bad.frames).toHaveLength(0)
    expect(await good.request(1, 'after')).toMatchObject({ text: 'after' })
  })

  it('complete frames before an oversized header in the same read are answered (sync and async), then the connection closes', async () => {
    let stops!: ReturnType<typeof stopsOf>
    const slow = deferred()
    const { server, tcpPort } = await h.start({ limits: { maxPacketSize: 1024 } }, (s) => {
      s.route(1, echo)
      s.route(2, async (req) => {
        await slow.promise
        req.reply(2, req.data)
      })
      stops = stopsOf(s)
    })
    const c = await h.tcp(tcpPort)
    // One write, so one read on the server: two valid frames, then a header declaring 4 GiB (as the Go client test sends it).
    c.write(Buffer.concat([header(1, 2), Buffer.from('hi'), header(2, 5), Buffer.from('later'), header(1, 0xfffffff0)]))
    await c.waitFrames(1)
    // The async request is still running: the connection waits for it.
    await turns()
    expect(c.closed).toBe(false)
    expect(stops).toHaveLength(0)
    slow.resolve()
    await c.waitClosed()
    expect(c.frames.map((f) => [f.msgId, f.text])).toEqual([
      [1, 'hi'],
      [2, 'later'],
    ])
    expect(stops.map((s) => s.reason)).toEqual(['frame-too-large'])
    expect(server.counters['closed.frame-too-large']).toBe(1)
  })

  it('a frame of exactly maxPacketSize is fine; one byte more is not', async () => {
    const { tcpPort } = await h.start({ limits: { maxPacketSize: 1024 } }, (s) => s.route(1, echo))
    const c = await h.tcp(tcpPort)
    expect((await c.request(1, Buffer.alloc(1024, 7))).data.length).toBe(1024)
    c.write(header(1, 1025))
    await c.waitClosed()
  })

  it('a frame not completed within frameTimeoutMs closes with frame-timeout', async () => {
    let stops!: ReturnType<typeof stopsOf>
    const { server, logs, tcpPort } = await h.start({ limits: { frameTimeoutMs: 150 } }, (s) => {
      s.route(1, echo)
      stops = stopsOf(s)
    })
    const good = await h.tcp(tcpPort)
    const slow = await h.tcp(tcpPort)
    const header3 = await h.tcp(tcpPort)
    const peers = [slow, header3].map((c) => `127.0.0.1:${c.socket.localPort}`).sort()
    // A whole frame first: the clock runs only while a frame is incomplete.
    expect(await slow.request(1, 'whole')).toMatchObject({ text: 'whole' })
    slow.write(Buffer.concat([header(1, 10), Buffer.from('abc')]))
    header3.write(Buffer.from([0, 0, 0]))
    await slow.waitClosed()
    await header3.waitClosed()
    expect(stops.map((s) => s.reason)).toEqual(['frame-timeout', 'frame-timeout'])
    expect(server.counters['closed.frame-timeout']).toBe(2)
    // Each line names its peer, so the log's rate limit counts per source.
    expect(logs.find('closing connection: frame not completed in time', LEVEL.warn).map((l) => l.remote).sort()).toEqual(peers)
    // An idle connection with no partial frame stays.
    expect(good.closed).toBe(false)
    expect(await good.request(1, 'still here')).toMatchObject({ text: 'still here' })
  })
})

describe('UDP datagrams', () => {
  it('drops and counts a 2-byte datagram and an oversized one; still answers', async () => {
    const starts: Connection[] = []
    const drops: string[] = []
    const { server, logs, udpPort } = await h.start({ limits: { maxPacketSize: 100 } }, (s) => {
      s.route(1, echo)
      s.hooks.onConnStart.tap('test', (c) => void starts.push(c))
      s.hooks.onDrop.tap('test', (d) => void drops.push(d.reason))
    })
    const u = await h.udp(udpPort)
    await u.sendRaw(Buffer.from([0, 1]))
    await u.sendRaw(Buffer.concat([Buffer.from([0, 0, 0, 1]), Buffer.alloc(101)]))
    expect(await u.request(1, Buffer.alloc(100, 1))).toMatchObject({ msgId: 1 })
    expect(u.frames).toHaveLength(1)
    expect(server.counters['drop.short-datagram']).toBe(1)
    expect(server.counters['drop.oversized-datagram']).toBe(1)
    expect(drops).toEqual(['short-datagram', 'oversized-datagram'])
    expect(logs.find('datagram dropped', LEVEL.warn)).toHaveLength(2)
    // Junk never made a session.
    expect(starts).toHaveLength(1)
  })

  it('with the tlv-be datagram codec, a datagram whose length field lies is dropped', async () => {
    const { server, udpPort } = await h.start({ udp: { codec: 'tlv-be' } }, (s) => s.route(1, echo))
    const u = await UdpClient.open(udpPort, tlvDatagram)
    h.onCleanup(() => u.close())
    await u.sendRaw(Buffer.concat([header(1, 50), Buffer.from('short')]))
    expect(await u.request(1, 'fine')).toMatchObject({ msgId: 1, text: 'fine' })
    expect(server.counters['drop.bad-datagram']).toBe(1)
  })

  it('udp.maxPeers: a flood of new ports evicts the least recently active idle sessions; new clients are still served', async () => {
    const stops: string[] = []
    const { server, udpPort } = await h.start({ udp: { maxPeers: 3 } }, (s) => {
      s.route(1, echo)
      s.hooks.onConnStop.tap('test', (c, reason) => void stops.push(`${c.remote.port} ${reason}`))
    })
    const a = await h.udp(udpPort)
    await a.request(1, 'a')
    // 30 ports, one datagram each, as a spoofer rotating source ports would send.
    const flood = await Promise.all(Array.from({ length: 30 }, () => h.udp(udpPort)))
    for (const f of flood) await f.request(1, 'f')
    expect(server.connections.size).toBe(3)
    expect(server.counters['closed.peer-evicted']).toBe(28)
    expect(server.counters['drop.max-peers']).toBe(0)
    // The oldest went first, with its reason.
    expect(stops[0]).toBe(`${a.localPort} evicted`)
    const late = await h.udp(udpPort)
    expect(await late.request(1, 'late')).toMatchObject({ text: 'late' })
    // An evicted peer that speaks again simply gets a new session.
    expect(await a.request(1, 'a again')).toMatchObject({ text: 'a again' })
  })

  it('udp.maxPeers: unproven sessions go before proven ones, even behind many older proven ones', async () => {
    const stops: string[] = []
    const { server, udpPort } = await h.start({ udp: { maxPeers: 72, strict: true, rateLimits: {} } }, (s) => {
      s.route(1, echo)
      s.hooks.onConnStop.tap('test', (c, reason) => void stops.push(`${c.remote.port} ${reason}`))
    })
    // 70 proven clients first, the oldest sessions: more than a scan of the oldest few would look past.
    const proven = Array.from({ length: 70 }, () => connect(`udp://127.0.0.1:${udpPort}`, { validateAddress: true }))
    for (const c of proven) h.onCleanup(() => c.close())
    await Promise.all(proven.map((c) => c.ready()))
    const spoofed = await Promise.all(Array.from({ length: 6 }, () => h.udp(udpPort)))
    for (const u of spoofed) {
      await u.send(1, 'x')
      await until(() => u.frames.length === 1, 2_000, 'the cookie challenge')
    }
    expect(server.counters['closed.peer-evicted']).toBe(4)
    expect(stops.every((s) => s.endsWith(' evicted'))).toBe(true)
    // Only unproven ones went: both proven clients are still served on their sessions.
    for (const c of proven) expect((await c.request(1, 'still', { timeoutMs: 2_000 })).data.toString()).toBe('still')
    expect(server.counters['closed.peer-evicted']).toBe(4)
  })

  it('udp.maxPeers: busy sessions at the front do not wall off idle ones behind them', async () => {
    const gate = deferred()
    const { server, udpPort } = await h.start({ udp: { maxPeers: 70, rateLimits: {} } }, (s) => {
      s.route(1, echo)
      s.route(2, () => gate.promise)
    })
    h.onCleanup(() => gate.resolve())
    // 66 sessions each holding a request, then 4 idle ones.
    const busy = await Promise.all(Array.from({ length: 66 }, () => h.udp(udpPort)))
    for (const u of busy) await u.send(2)
    await until(() => server.dispatcher.active === 66, 2_000, '66 requests running')
    const idle = await Promise.all(Array.from({ length: 4 }, () => h.udp(udpPort)))
    for (const u of idle) await u.request(1, 'idle')
    const newcomer = await h.udp(udpPort)
    expect(await newcomer.request(1, 'in')).toMatchObject({ text: 'in' })
    expect(server.counters['drop.max-peers']).toBe(0)
    expect(server.counters['closed.peer-evicted']).toBe(1)
    expect(server.dispatcher.active).toBe(66)
  })

  it('udp.maxPeers: a session that speaks again moves behind the silent ones (order kept to the second)', async () => {
    const stops: number[] = []
    const { udpPort } = await h.start({ udp: { maxPeers: 3 } }, (s) => {
      s.route(1, echo)
      s.hooks.onConnStop.tap('test', (c) => void stops.push(c.remote.port))
    })
    const [a, b, c] = [await h.udp(udpPort), await h.udp(udpPort), await h.udp(udpPort)]
    for (const u of [a, b, c]) await u.request(1, 'hi')
    // The scenario: the order is kept to TOUCH_MS (1 s), so a speaks again after more than that.
    await new Promise((r) => setTimeout(r, 1_100))
    await a.request(1, 'still here')
    const d = await h.udp(udpPort)
    await d.request(1, 'new')
    expect(stops).toEqual([b.localPort])
  })

  it('udp.maxPeers: with every session busy, a new peer is dropped and counted', async () => {
    const gate = deferred()
    const { server, udpPort } = await h.start({ udp: { maxPeers: 2 } }, (s) => {
      s.route(1, echo)
      s.route(2, () => gate.promise)
    })
    const a = await h.udp(udpPort)
    const b = await h.udp(udpPort)
    const c = await h.udp(udpPort)
    await a.send(2)
    await b.send(2)
    await until(() => server.dispatcher.active === 2)
    await c.send(1, 'c')
    await until(() => server.counters['drop.max-peers'] === 1)
    expect(c.frames).toHaveLength(0)
    expect(server.connections.size).toBe(2)
    gate.resolve()
    // Once idle they can be evicted: c gets in.
    await until(() => server.dispatcher.active === 0)
    expect(await c.request(1, 'c2')).toMatchObject({ text: 'c2' })
  })
})

describe('connection limits', () => {
  it('maxConn refuses extra TCP connections; the others keep working; a freed slot is reusable', async () => {
    const starts: Connection[] = []
    const { server, logs, tcpPort } = await h.start({ limits: { maxConn: 2 } }, (s) => {
      s.route(1, echo)
      s.hooks.onConnStart.tap('test', (c) => void starts.push(c))
    })
    const a = await h.tcp(tcpPort)
    const b = await h.tcp(tcpPort)
    await a.request(1, 'a')
    await b.request(1, 'b')
    const c = await h.tcp(tcpPort)
    await c.waitClosed()
    expect(server.counters['refused.max-conn']).toBe(1)
    expect(starts).toHaveLength(2)
    expect(logs.find('connection refused: max-conn', LEVEL.warn)).toHaveLength(1)
    expect(await a.request(1, 'a2')).toMatchObject({ text: 'a2' })
    expect(await b.request(1, 'b2')).toMatchObject({ text: 'b2' })
    // UDP peers do not count against maxConn.
    const u = await h.udp((server.address().udp!).port)
    expect(await u.request(1, 'u')).toMatchObject({ text: 'u' })
    a.socket.end()
    await until(() => server.connections.get(starts[0]!.id) === undefined)
    const d = await h.tcp(tcpPort)
    expect(await d.request(1, 'd')).toMatchObject({ text: 'd' })
  })

  it('maxConnPerIp refuses a third connection from 127.0.0.1 but not one from 127.0.0.2', async () => {
    const { server, tcpPort } = await h.start({ limits: { maxConnPerIp: 2 } }, (s) => s.route(1, echo))
    const a = await h.tcp(tcpPort)
    const b = await h.tcp(tcpPort)
    await a.request(1, 'a')
    await b.request(1, 'b')
    const c = await h.tcp(tcpPort)
    await c.waitClosed()
    expect(server.counters['refused.max-conn-per-ip']).toBe(1)
    const other = await h.tcp(tcpPort, { localAddress: '127.0.0.2' })
    expect(await other.request(1, 'other ip')).toMatchObject({ text: 'other ip' })
    expect(await a.request(1, 'a2')).toMatchObject({ text: 'a2' })
  })
})

describe('maxInflightPerConn', () => {
  it('TCP: a full queue pauses reading; after release all 100 are answered in order', async () => {
    const gate = deferred()
    let started = 0
    const { server, tcpPort } = await h.start({ limits: { maxInflightPerConn: 4, handlerTimeoutMs: 10_000 } }, (s) => {
      s.route(1, async (req) => {
        started++
        await gate.promise
        req.reply(1, req.data)
      })
      s.route(2, echo)
    })
    const c = await h.tcp(tcpPort)
    const other = await h.tcp(tcpPort)
    c.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => c.encode(1, String(i)))))
    await until(() => server.counters.requests === 4)
    // Round trips on another connection let the server process whatever it would.
    for (let i = 0; i < 5; i++) {
      await other.request(2, 'tick')
      await turns(2)
    }
    // One running, three queued: the other 96 frames wait unread (4 + the 5 ticks).
    expect(server.counters.requests).toBe(4 + 5)
    expect(started).toBe(1)
    expect(c.frames).toHaveLength(0)
    gate.resolve()
    const frames = await c.waitFrames(100)
    expect(frames.map((f) => f.text)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)))
    expect(started).toBe(100)
    expect(server.counters['drop.queue-full']).toBe(0)
  })

  it('TCP: concurrent routes are bounded too: exactly 4 handlers start until release', async () => {
    const gate = deferred()
    let started = 0
    let maxActive = 0
    let active = 0
    const { server, tcpPort } = await h.start({ limits: { maxInflightPerConn: 4, handlerTimeoutMs: 10_000 } }, (s) =>
      s.route(1, {
        concurrent: true,
        async handle(req) {
          started++
          maxActive = Math.max(maxActive, ++active)
          await gate.promise
          active--
          req.reply(1, req.data)
        },
      }),
    )
    const c = await h.tcp(tcpPort)
    c.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => c.encode(1, String(i)))))
    await until(() => started === 4)
    await turns(20)
    expect(started).toBe(4)
    gate.resolve()
    await c.waitFrames(100)
    expect(maxActive).toBe(4)
    expect(server.counters.requests).toBe(100)
  })

  it('UDP: the excess is dropped and counted as queue-full', async () => {
    const gate = deferred()
    let started = 0
    const { server, udpPort } = await h.start({ limits: { maxInflightPerConn: 4, handlerTimeoutMs: 10_000 } }, (s) =>
      s.route(1, async (req) => {
        started++
        await gate.promise
        req.reply(1, req.data)
      }),
    )
    const u = await h.udp(udpPort)
    for (let i = 0; i < 100; i++) await u.send(1, String(i))
    await until(() => server.counters.requests + server.counters['drop.queue-full'] === 100)
    expect(server.counters.requests).toBe(4)
    expect(server.counters['drop.queue-full']).toBe(96)
    expect(started).toBe(1)
    gate.resolve()
    const frames = await u.waitFrames(4)
    expect(frames.map((f) => f.text)).toEqual(['0', '1', '2', '3'])
  })
})

describe('slow consumer', () => {
  it('a TCP client that never reads is closed with slow-consumer; the outbound queue stays within budget + one frame', async () => {
    const BUDGET = 64 * 1024
    const CHUNK = 32 * 1024
    const FRAME = CHUNK + 8
    let socket: net.Socket | undefined
    let unsent: () => number = () => 0
    let maxQueued = 0
    let refused = false
    let stops!: ReturnType<typeof stopsOf>
    const { server, tcpPort } = await h.start({ limits: { maxOutboundBytes: BUDGET } }, (s) => {
      stops = stopsOf(s)
      s.hooks.onConnStart.tap('test', (conn) => {
        // The transport's socket and its unsent bytes (socket queue + replies
        // gathered for this read), read only to measure the queue.
        const tcp = conn as unknown as { socket: net.Socket; unsent: number }
        socket = tcp.socket
        unsent = () => tcp.unsent
      })
      s.route(7, (req) => {
        const body = Buffer.alloc(CHUNK, 1)
        for (let i = 0; i < 128; i++) {
          const ok = req.reply(7, body)
          maxQueued = Math.max(maxQueued, unsent())
          if (!ok) {
            refused = true
            return
          }
        }
      })
    })
    const c = await h.tcp(tcpPort)
    c.socket.pause()
    // Each request asks for 4 MiB; the kernel buffers take some, then the budget trips.
    for (let i = 0; i < 50 && stops.length === 0; i++) {
      const before = server.counters.requests
      c.send(7)
      await until(() => server.counters.requests > before || stops.length > 0 || c.closed)
    }
    await until(() => stops.length === 1)
    expect(stops[0]!.reason).toBe('slow-consumer')
    expect(server.counters['closed.slow-consumer']).toBe(1)
    expect(refused).toBe(true)
    expect(maxQueued).toBeGreaterThan(BUDGET)
    expect(maxQueued).toBeLessThanOrEqual(BUDGET + FRAME)
    expect(socket!.destroyed).toBe(true)
    c.socket.resume()
    await c.waitClosed(5_000)
    expect(server.connections.size).toBe(0)
  })
})

describe('outbound budget vs a reading client', () => {
  it('one reply larger than maxOutboundBytes still reaches a client that reads', async () => {
    const { server, tcpPort } = await h.start({ limits: { maxOutboundBytes: 64 * 1024 } }, (s) =>
      s.route(1, (req) => void req.reply(1, Buffer.alloc(512 * 1024, 3))),
    )
    const c = await h.tcp(tcpPort)
    c.send(1)
    await c.waitUntil(() => c.frames.length > 0 || c.closed, 5_000, 'the reply or a close')
    expect(server.counters['closed.slow-consumer']).toBe(0)
    expect(c.frames).toHaveLength(1)
    expect(c.frames[0]!.data.length).toBe(512 * 1024)
  })
})

describe('client helper', () => {
  it('FrameClient.connect rejects when nothing listens', async () => {
    const { server, tcpPort } = await h.start()
    await server.close()
    await expect(FrameClient.connect(tcpPort)).rejects.toThrow(/ECONNREFUSED/)
  })
})
