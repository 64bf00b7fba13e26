// UDP abuse guards and the global outbound budget, over real sockets. To show
// that something did NOT come back, each test ends with a barrier: a request
// on an unguarded msgId from the same socket, whose answer arrives after any
// answer to what was sent before it.
import { describe, expect, it } from 'vitest'
import { connect } from '../../core/client/index.ts'
import { COOKIE_CHALLENGE, COOKIE_ECHO } from '../../core/wire/cookie.ts'
import { useHarness } from '../helpers/server.ts'
import type { UdpClient } from '../helpers/udp.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()
const BARRIER = 99
const AMPLIFY = 7
const big = Buffer.alloc(1_000, 0x61)

function routes(server: Parameters<NonNullable<Parameters<typeof h.start>[1]>>[0]) {
  server.route(1, (req) => void req.reply(1, req.data))
  server.route(AMPLIFY, (req) => void req.reply(AMPLIFY, big))
  server.route(BARRIER, (req) => void req.reply(BARRIER, 'barrier'))
}

/** Sends the barrier and resolves with every frame that arrived before its answer. */
async function barrier(c: UdpClient): Promise<typeof c.frames> {
  await c.send(BARRIER)
  await until(() => c.frames.some((f) => f.msgId === BARRIER), 2_000, 'barrier answer')
  return c.frames.filter((f) => f.msgId !== BARRIER)
}

describe('UDP guards', () => {
  it('global intake rate: a flood beyond udp.intakePerSec is dropped and counted; TCP is still served', async () => {
    const { server, udpPort, tcpPort } = await h.start({ udp: { intakePerSec: 50 } }, routes)
    const u = await h.udp(udpPort)
    // In bursts of 25, so the kernel's receive buffer (not the server) never drops any.
    for (let i = 0; i < 300; i += 25) {
      await Promise.all(Array.from({ length: 25 }, (_, j) => u.send(1, String(i + j))))
      await new Promise((r) => setImmediate(r))
    }
    // Every datagram is either answered or counted as dropped.
    await until(() => server.counters['drop.udp-intake'] + u.frames.length === 300, 3_000, 'all 300 accounted for')
    expect(u.frames.length).toBeLessThan(120)
    const tcp = await h.tcp(tcpPort)
    expect((await tcp.request(1, 'tcp ok')).text).toBe('tcp ok')
  })

  it('per-source msgId token bucket: the limited msgId is cut at its burst, others pass', async () => {
    const { server, udpPort } = await h.start({ udp: { rateLimits: { '1': { perSec: 1, burst: 5 } } } }, routes)
    const u = await h.udp(udpPort)
    for (let i = 0; i < 20; i++) await u.send(1, String(i))
    const before = await barrier(u)
    expect(before.length).toBeGreaterThanOrEqual(5)
    expect(before.length).toBeLessThanOrEqual(6)
    expect(server.counters['drop.rate-limit']).toBe(20 - before.length)
  })

  it('anti-amplification: bytes sent to one address stay within 3× received + the byte budget', async () => {
    const { server, udpPort } = await h.start({ udp: { rateLimits: {}, replyBytesPerSec: 4_096, replyBurstBytes: 8_192 } }, routes)
    const u = await h.udp(udpPort)
    const t0 = performance.now()
    for (let i = 0; i < 100; i++) await u.send(AMPLIFY)
    const got = await barrier(u)
    const seconds = (performance.now() - t0) / 1000
    const sentBytes = 100 * 4 + 4
    const receivedBytes = got.reduce((n, f) => n + f.data.length + 4, 0)
    expect(receivedBytes).toBeLessThanOrEqual(8_192 + 3 * sentBytes + 4_096 * seconds + 1_004)
    expect(got.length).toBeLessThan(20)
    expect(server.counters['drop.udp-reply-budget']).toBe(100 - got.length)
  })

  it('anti-amplification: a spoofer rotating the victim port shares one budget per IP', async () => {
    const { server, udpPort } = await h.start({ udp: { rateLimits: {}, replyBytesPerSec: 4_096, replyBurstBytes: 8_192 } }, routes)
    // 40 ports of one address, 5 requests each: each port alone would get its own 8 KiB burst.
    const ports = await Promise.all(Array.from({ length: 40 }, () => h.udp(udpPort)))
    const t0 = performance.now()
    for (const u of ports) for (let i = 0; i < 5; i++) await u.send(AMPLIFY)
    const got = (await Promise.all(ports.map((u) => barrier(u)))).flat()
    const seconds = (performance.now() - t0) / 1000
    const receivedBytes = got.reduce((n, f) => n + f.data.length + 4, 0)
    const sentBytes = 40 * (5 * 4 + 4)
    expect(receivedBytes).toBeLessThanOrEqual(8_192 + 3 * sentBytes + 4_096 * seconds + 1_004)
    expect(got.length).toBeLessThan(30)
    expect(server.counters['drop.udp-reply-budget']).toBe(200 - got.length)
  })

  it('echo-sized replies are never throttled: 3× credit covers them', async () => {
    const { server, udpPort } = await h.start({ udp: { rateLimits: {} } }, routes)
    const c = connect(`udp://127.0.0.1:${udpPort}`)
    h.onCleanup(() => c.close())
    await c.ready()
    const payload = Buffer.alloc(64, 1)
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 50 }, () => c.request(1, payload, { timeoutMs: 2_000 })))
    }
    expect(server.counters['drop.udp-reply-budget']).toBe(0)
  })

  it('strict mode: no reply over 3× the request until the address echoes its cookie', async () => {
    const { server, udpPort } = await h.start({ udp: { strict: true, rateLimits: {} } }, routes)
    const u = await h.udp(udpPort)
    await u.send(AMPLIFY)
    await until(() => u.frames.length === 1)
    const [challenge] = u.frames
    expect(challenge!.msgId).toBe(COOKIE_CHALLENGE)
    expect(challenge!.data.length + 4).toBeLessThanOrEqual(3 * 4)
    // A wrong cookie proves nothing.
    await u.send(COOKIE_ECHO, Buffer.alloc(8))
    await u.send(AMPLIFY)
    await until(() => u.frames.length === 2)
    expect(u.frames[1]!.msgId).toBe(COOKIE_CHALLENGE)
    expect(server.counters['drop.udp-reply-budget']).toBe(2)

    await u.send(COOKIE_ECHO, challenge!.data)
    expect((await u.request(AMPLIFY)).data.length).toBe(1_000)
  })

  it('msgIds above the reserved cookie range route over UDP like any other', async () => {
    const { udpPort } = await h.start({ udp: { rateLimits: {} } }, (s) => {
      s.route(0xffffff03, (req) => void req.reply(0xffffff03, 'above'))
      s.route(0xffffffff, (req) => void req.reply(0xffffffff, 'max'))
    })
    const u = await h.udp(udpPort)
    expect(await u.request(0xffffff03)).toMatchObject({ msgId: 0xffffff03, text: 'above' })
    expect(await u.request(0xffffffff)).toMatchObject({ msgId: 0xffffffff, text: 'max' })
  })

  it('sendUdp to a host name still resolves it (an IP is sent to at once, with no DNS round)', async () => {
    let server!: { sendUdp(address: string, port: number, msgId: number, data: string): boolean }
    const { udpPort } = await h.start({}, (s) => void (server = s))
    const u = await h.udp(udpPort)
    expect(server.sendUdp('127.0.0.1', u.localPort, 21, 'by ip')).toBe(true)
    expect(server.sendUdp('localhost', u.localPort, 22, 'by name')).toBe(true)
    const got = await u.waitFrames(2)
    expect(got.map((f) => [f.msgId, f.text]).sort()).toEqual([
      [21, 'by ip'],
      [22, 'by name'],
    ])
  })

  it('strict mode: the client library validates its address before ready()', async () => {
    const { udpPort } = await h.start({ udp: { strict: true, rateLimits: {} } }, routes)
    const c = connect(`udp://127.0.0.1:${udpPort}`, { validateAddress: true })
    h.onCleanup(() => c.close())
    await c.ready()
    expect((await c.request(AMPLIFY, '', { timeoutMs: 2_000 })).data.length).toBe(1_000)
  })
})

describe('global outbound budget', () => {
  it('closes the connection with the largest unsent queue first, and keeps serving others', async () => {
    const { server, tcpPort } = await h.start(
      { limits: { maxOutboundBytes: 64 * 1024 * 1024, maxOutboundTotalBytes: 6 * 1024 * 1024, frameTimeoutMs: 200 } },
      (s) => {
        // Each request asks for N KiB of reply, pushed at a peer that never reads.
        s.route(5, (req) => {
          const kib = Number(req.text())
          for (let i = 0; i < kib / 64; i++) req.reply(5, Buffer.alloc(64 * 1024))
        })
        routes(s)
      },
    )
    const stops: Array<[number, string]> = []
    server.hooks.onConnStop.tap('test', (c, reason) => void stops.push([c.id, reason]))
    const small = await h.tcp(tcpPort)
    const large = await h.tcp(tcpPort)
    small.socket.pause()
    large.socket.pause()
    await until(() => server.connections.size === 2)
    const [smallId, largeId] = [...server.connections].map((c) => c.id)
    small.send(5, String(4 * 1024))
    large.send(5, String(12 * 1024))
    await until(() => stops.length >= 1, 5_000, 'a connection shed')
    expect(stops[0]).toEqual([largeId, 'slow-consumer'])
    expect(server.counters['closed.outbound-budget']).toBeGreaterThanOrEqual(1)
    const reader = await h.tcp(tcpPort)
    expect((await reader.request(1, 'still here')).text).toBe('still here')
    // Shedding the larger queue brought the total under budget: the smaller one stays.
    expect(stops.some(([id]) => id === smallId)).toBe(false)
    expect(small.closed).toBe(false)
  })

  it('is checked when a queue grows, not only at the next sweep', async () => {
    let wrote = 0
    let timerFired = false
    // Default frame and idle timeouts: the sweeper runs once a second.
    const { server, tcpPort } = await h.start({ limits: { maxOutboundBytes: 64 * 1024 * 1024, maxOutboundTotalBytes: 2 * 1024 * 1024 } }, (s) => {
      s.route(5, (req) => {
        // Marks a point 300 ms after the burst: the shed must come before it.
        setTimeout(() => (timerFired = true), 300).unref()
        // 40 MiB: more than the kernel buffers of a loopback pair can take (tcp_wmem + tcp_rmem maxima:
        // 4 + 32 MiB on the CI machine), so the rest queues in the server whatever the write pattern.
        for (let i = 0; i < 640; i++) if (req.reply(5, Buffer.alloc(64 * 1024))) wrote++
      })
      routes(s)
    })
    const stops: Array<{ reason: string; beforeTimer: boolean }> = []
    server.hooks.onConnStop.tap('test', (_c, reason) => void stops.push({ reason, beforeTimer: !timerFired }))
    const c = await h.tcp(tcpPort)
    c.socket.pause()
    c.send(5)
    await until(() => stops.length === 1, 5_000, 'the shed')
    expect(stops[0]).toEqual({ reason: 'slow-consumer', beforeTimer: true })
    expect(server.counters['closed.outbound-budget']).toBe(1)
    expect(wrote).toBe(640)
  })
})
