// Shared tables and budgets against one abusive source, and against many
// spoofed ones: other loopback addresses (127.0.0.x) stand in for other hosts.
import { describe, expect, it } from 'vitest'
import { enetDatagram } from '../../core/wire/codec.ts'
import type { Request } from '../../core/types.ts'
import { useHarness } from '../helpers/server.ts'
import { UdpClient } from '../helpers/udp.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)

async function udpFrom(port: number, local: string): Promise<UdpClient> {
  const c = await UdpClient.open(port, enetDatagram, local)
  h.onCleanup(() => c.close())
  return c
}

describe('udp.maxPeersPerSource', () => {
  it("a source rotating ports makes room among its own sessions; another source's session is never evicted for it", async () => {
    const { server, udpPort } = await h.start({ udp: { maxPeers: 100, maxPeersPerSource: 5 } }, (s) => s.route(1, echo))
    const other = await udpFrom(udpPort, '127.0.0.2')
    expect(await other.request(1, 'first')).toMatchObject({ text: 'first' })
    for (let i = 0; i < 20; i++) {
      const f = await udpFrom(udpPort, '127.0.0.1')
      expect(await f.request(1, `f${i}`)).toMatchObject({ text: `f${i}` })
    }
    expect(server.connections.size).toBe(6)
    expect(server.counters['closed.peer-evicted']).toBe(15)
    expect([...server.connections].filter((c) => c.remote.address === '127.0.0.2')).toHaveLength(1)
    expect(await other.request(1, 'still')).toMatchObject({ text: 'still' })
  })
})

describe('udp.unprovenReplyBytesPerSec', () => {
  it('replies beyond 3 × their request to unproven addresses share one server-wide budget; echo-sized replies do not spend it', async () => {
    const big = Buffer.alloc(1_000, 0x61)
    const { server, udpPort } = await h.start({ udp: { unprovenReplyBytesPerSec: 1, unprovenReplyBurstBytes: 5_000 } }, (s) => {
      s.route(1, echo)
      s.route(11, (req) => void req.reply(11, big))
    })
    // 20 "victims", one small request each: each address's own budget (8 KiB burst) would let every reply out.
    const victims = await Promise.all(Array.from({ length: 20 }, (_, i) => udpFrom(udpPort, `127.0.0.${i + 2}`)))
    for (const v of victims) await v.send(11, 'list')
    await until(() => server.counters['drop.udp-unproven-budget'] + victims.reduce((n, v) => n + v.frames.length, 0) === 20, 5_000, 'every request answered or dropped')
    const answered = victims.reduce((n, v) => n + v.frames.length, 0)
    // 5,000 bytes of budget and 1 byte/s: five replies of 1,004 bytes at most (four, plus what the refill adds).
    expect(answered).toBeLessThanOrEqual(5)
    expect(server.counters['drop.udp-unproven-budget']).toBeGreaterThanOrEqual(15)
    const echoer = await udpFrom(udpPort, '127.0.0.40')
    expect(await echoer.request(1, 'echo is not amplification')).toMatchObject({ text: 'echo is not amplification' })
  })
})
