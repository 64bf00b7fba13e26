// Limits change on a running server (server.reconfigure is what a config
// file save calls) and apply to connections that are already open.
import { describe, expect, it } from 'vitest'
import { resolveConfig, type EnetConfig } from '../../core/config.ts'
import type { Server } from '../../core/engine/server.ts'
import { useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()
const echo = (s: Server) => s.route(1, (req) => void req.reply(1, req.data))

function patch(server: Server, limits: Partial<EnetConfig['limits']>, udp: Partial<EnetConfig['udp']> = {}): string[] {
  const cur = server.config
  return server.reconfigure(resolveConfig({ ...cur, limits: { ...cur.limits, ...limits }, udp: { ...cur.udp, ...udp } }))
}

describe('live limits', () => {
  it('maxPacketSize lowered live closes an open connection on its next large frame', async () => {
    const { server, tcpPort } = await h.start({}, echo)
    const c = await h.tcp(tcpPort)
    expect((await c.request(1, Buffer.alloc(2_000))).data.length).toBe(2_000)
    expect(patch(server, { maxPacketSize: 1_000 })).toEqual([])
    const other = await h.tcp(tcpPort)
    c.send(1, Buffer.alloc(2_000))
    await c.waitClosed()
    expect(server.counters['closed.frame-too-large']).toBe(1)
    expect((await other.request(1, 'small')).text).toBe('small')
  })

  it('maxConn lowered live refuses the next connection; open ones stay', async () => {
    const { server, tcpPort } = await h.start({}, echo)
    const a = await h.tcp(tcpPort)
    const b = await h.tcp(tcpPort)
    await until(() => server.connections.size === 2)
    patch(server, { maxConn: 2 })
    const c = await h.tcp(tcpPort)
    await c.waitClosed()
    expect(server.counters['refused.max-conn']).toBe(1)
    expect((await a.request(1, 'a')).text).toBe('a')
    expect((await b.request(1, 'b')).text).toBe('b')
  })

  it('udp.rateLimits and intakePerSec change live', async () => {
    const { server, udpPort } = await h.start({ udp: { rateLimits: {} } }, echo)
    const u = await h.udp(udpPort)
    for (let i = 0; i < 10; i++) await u.send(1, String(i))
    await u.waitFrames(10)
    patch(server, {}, { rateLimits: { '1': { perSec: 1, burst: 2 } } })
    for (let i = 0; i < 10; i++) await u.send(1, String(i))
    await until(() => server.counters['drop.rate-limit'] >= 8)
    expect(u.frames.length).toBeLessThanOrEqual(13)
    patch(server, {}, { rateLimits: {}, intakePerSec: 1 })
    for (let i = 0; i < 5; i++) await u.send(1, String(i))
    await until(() => server.counters['drop.udp-intake'] >= 3)
  })
})
