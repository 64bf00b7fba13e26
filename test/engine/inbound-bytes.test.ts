// Bytes held for queued requests: bounded per connection and server-wide,
// as outbound bytes are. TCP stops reading, UDP drops; nothing is lost on
// TCP, and a connection with nothing queued is never held up by the others.
import { describe, expect, it } from 'vitest'
import type { Server } from '../../core/engine/server.ts'
import type { Request } from '../../core/types.ts'
import { useHarness } from '../helpers/server.ts'
import { deferred, referenceTimer, until } from '../helpers/until.ts'

const h = useHarness()
const KiB = 1024
const chunk = (i: number) => Buffer.alloc(32 * KiB, 0x30 + (i % 10))

/** Route 2 waits on `gate`; route 3 answers at once with its data's first byte and length. */
function routes(gate: Promise<void>) {
  return (s: Server) => {
    s.route(2, async (req: Request) => {
      await gate
      req.reply(2, 'released')
    })
    s.route(3, (req: Request) => void req.reply(3, `${String.fromCharCode(req.data[0]!)}${req.data.length}`))
  }
}

describe('limits.maxInboundBytes', () => {
  it('TCP: a connection whose queue holds maxInboundBytes stops being read; released, every request is answered in order', async () => {
    const gate = deferred()
    const { server, tcpPort } = await h.start({ limits: { maxPacketSize: 64 * KiB, maxInboundBytes: 100_000 } }, routes(gate.promise))
    const c = await h.tcp(tcpPort)
    c.send(2)
    for (let i = 0; i < 20; i++) c.send(3, chunk(i))
    await until(() => server.dispatcher.queuedBytes >= 96 * KiB, 5_000, 'the queue to fill')
    // Given time to read on, it must not: the bound holds (one frame may go past it).
    await referenceTimer(100)
    expect(server.dispatcher.queuedBytes).toBeGreaterThanOrEqual(100_000)
    expect(server.dispatcher.queuedBytes).toBeLessThanOrEqual(100_000 + 32 * KiB)
    gate.resolve()
    const frames = await c.waitFrames(21, 5_000)
    expect(frames.map((f) => f.text)).toEqual(['released', ...Array.from({ length: 20 }, (_, i) => `${i % 10}${32 * KiB}`)])
    expect(server.dispatcher.queuedBytes).toBe(0)
  })

  it('UDP: past maxInboundBytes queued, datagrams of that peer are dropped and counted', async () => {
    const gate = deferred()
    const { server, udpPort } = await h.start({ limits: { maxInboundBytes: 5_000 }, udp: { rateLimits: {} } }, routes(gate.promise))
    const u = await h.udp(udpPort)
    await u.send(2)
    for (let i = 0; i < 5; i++) await u.send(3, Buffer.alloc(3_000, 0x41))
    await until(() => server.counters['drop.queue-full'] === 3, 5_000, '3 drops')
    expect(server.dispatcher.queuedBytes).toBe(6_000)
    gate.resolve()
    expect((await u.waitFrames(3)).map((f) => f.text)).toEqual(['released', 'A3000', 'A3000'])
  })
})

describe('limits.maxInboundTotalBytes', () => {
  it('server-wide: connections holding queued bytes wait once the total is reached; a connection with none is served', async () => {
    const gate = deferred()
    const { server, tcpPort } = await h.start({ limits: { maxPacketSize: 64 * KiB, maxInboundBytes: 1024 * KiB, maxInboundTotalBytes: 150_000 } }, routes(gate.promise))
    const a = await h.tcp(tcpPort)
    const b = await h.tcp(tcpPort)
    for (const c of [a, b]) {
      c.send(2)
      for (let i = 0; i < 10; i++) c.send(3, chunk(i))
    }
    await until(() => server.dispatcher.queuedBytes >= 150_000, 5_000, 'the total to be reached')
    await referenceTimer(100)
    // Each connection may have added one frame past the total when it was reached.
    expect(server.dispatcher.queuedBytes).toBeLessThanOrEqual(150_000 + 2 * 32 * KiB)
    const fresh = await h.tcp(tcpPort)
    expect(await fresh.request(3, 'x')).toMatchObject({ text: 'x1' })
    gate.resolve()
    for (const c of [a, b]) expect((await c.waitFrames(11, 5_000)).map((f) => f.text)).toEqual(['released', ...Array.from({ length: 10 }, (_, i) => `${i}${32 * KiB}`)])
  })
})
