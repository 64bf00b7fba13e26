// One-shot UDP sessions (udp.oneShotIdleMs): a source that sent one datagram
// and got nothing back, as each beat of a Go enet producer (a fresh socket per
// beat), expires early and is evicted first; long-lived peers keep the idle
// timeout and their sessions.
import { describe, expect, it } from 'vitest'
import { resolveConfig } from '../../core/config.ts'
import type { Server } from '../../core/engine/server.ts'
import type { CloseReason, Connection } from '../../core/types.ts'
import { GoConsumer, goDatagram, sendOnce } from '../helpers/go-demo.ts'
import { useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()

function track(server: { hooks: { onConnStart: { tap(n: string, f: (c: Connection) => void): void }; onConnStop: { tap(n: string, f: (c: Connection, r: CloseReason) => void): void } } }) {
  const started: Connection[] = []
  const stopped = new Map<number, CloseReason>()
  server.hooks.onConnStart.tap('test', (c) => void started.push(c))
  server.hooks.onConnStop.tap('test', (c, r) => void stopped.set(c.id, r))
  const byPort = (port: number) => started.filter((c) => c.remote.port === port)
  return { started, stopped, byPort }
}

describe('one-shot UDP sessions', () => {
  it('a single unanswered datagram from a fresh socket ends after oneShotIdleMs; a peer that speaks twice or is answered keeps the idle timeout', async () => {
    let t!: ReturnType<typeof track>
    const { server, udpPort } = await h.start({ udp: { oneShotIdleMs: 100 }, limits: { idleTimeoutMs: 60_000 } }, (s) => {
      s.route(10, () => {})
      s.route(11, (req) => void req.reply(10, 'a:1 '))
      t = track(s)
    })
    const twice = await h.udp(udpPort)
    await twice.send(10, '127.0.0.1:9001')
    await twice.send(10, '127.0.0.1:9001')
    const answered = await GoConsumer.open(udpPort)
    h.onCleanup(() => answered.close())
    expect((await answered.request(11, '让我访问!!!')).text).toBe('a:1 ')
    const beatPort = await sendOnce(udpPort, goDatagram(10, '127.0.0.1:9002'))
    await until(() => t.byPort(beatPort).length === 1 && t.stopped.get(t.byPort(beatPort)[0]!.id) === 'one-shot-timeout', 2_000, 'the one-shot session ended')
    // Another one-shot that expires after the first: more than oneShotIdleMs has passed since every other peer last spoke.
    const later = await sendOnce(udpPort, goDatagram(10, '127.0.0.1:9002'))
    await until(() => t.byPort(later).length === 1 && t.stopped.has(t.byPort(later)[0]!.id), 2_000, 'the second one-shot ended')
    expect(t.stopped.get(t.byPort(later)[0]!.id)).toBe('one-shot-timeout')
    for (const port of [twice.localPort, answered.localPort]) {
      const [conn] = t.byPort(port)
      expect(conn, `session of ${port}`).toBeDefined()
      expect(t.stopped.has(conn!.id), `session of ${port} still open`).toBe(false)
    }
    expect(server.counters['closed.one-shot-timeout']).toBe(2)
    expect(server.counters['closed.idle-timeout']).toBe(0)
  })

  it('a one-shot source whose request is still running is not cut off: its late reply arrives', async () => {
    let release!: () => void
    const { server, udpPort } = await h.start({ udp: { oneShotIdleMs: 50 } }, (s) => {
      s.route(20, async (req) => {
        await new Promise<void>((r) => (release = r))
        req.reply(20, 'here')
      })
    })
    const go = await GoConsumer.open(udpPort)
    h.onCleanup(() => go.close())
    const reply = go.request(20, 'movie.mp4')
    await until(() => release !== undefined)
    // A one-shot sent after the locate expires: the sweep has passed the waiting session by.
    const port = await sendOnce(udpPort, goDatagram(99, ''))
    await until(() => server.counters['closed.one-shot-timeout'] === 1 && ![...server.connections].some((c) => c.remote.port === port), 2_000, 'the other one-shot expired')
    release()
    expect((await reply).text).toBe('here')
  })

  it('1,000 Go-style beats (a fresh source port each) never push out a long-lived peer: one-shot sessions are evicted first', async () => {
    let t!: ReturnType<typeof track>
    let beats = 0
    const maxPeers = 100
    const { server, udpPort } = await h.start({ udp: { maxPeers, oneShotIdleMs: 60_000, rateLimits: {} } }, (s) => {
      s.route(10, () => void beats++)
      s.route(11, (req) => void req.reply(10, 'a:1 '))
      t = track(s)
    })
    // A Go consumer (one socket, answered) and a node beating from one socket: both unproven, both older than every beat.
    const consumer = await GoConsumer.open(udpPort)
    h.onCleanup(() => consumer.close())
    await consumer.request(11, '')
    const steady = await h.udp(udpPort)
    await steady.send(10, '127.0.0.1:9100')
    await steady.send(10, '127.0.0.1:9100')
    await until(() => t.started.length === 2)
    // 1,000 producers' beats, 50 sockets at a time; each batch handled before the next (the socket's receive buffer is finite).
    for (let i = 0; i < 1_000; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => sendOnce(udpPort, goDatagram(10, `127.0.0.1:${20_000 + i + j}`))))
      await until(() => beats === 2 + i + 50, 2_000, `beat ${i + 50} handled`)
    }
    // The OS may hand a closed socket's port to a later one: a few beats then share a session.
    expect(t.started.length).toBeGreaterThan(900)
    expect(server.connections.size).toBe(maxPeers)
    const longLived = t.started.slice(0, 2)
    for (const conn of longLived) expect(t.stopped.has(conn.id), `${conn.remote.port} kept`).toBe(false)
    expect(server.counters['closed.peer-evicted']).toBe(t.started.length - maxPeers)
    expect([...t.stopped.values()].every((r) => r === 'evicted')).toBe(true)
    expect((await consumer.request(11, '')).text).toBe('a:1 ')
    expect(t.byPort(consumer.localPort)).toHaveLength(1)
  })

  it('a datagram the server sends to the address unasked (sendUdp, as a locate query) leaves the session one-shot', async () => {
    let server!: Server
    const h2 = await h.start({ udp: { oneShotIdleMs: 100 } }, (s) => {
      server = s
      s.route(10, (req) => void s.sendUdp(req.remote.address, req.remote.port, 20, 'movie.mp4'))
    })
    const c = await h.udp(h2.udpPort)
    await c.send(10, '127.0.0.1:9004')
    expect((await c.waitFrames(1))[0]).toMatchObject({ msgId: 20, text: 'movie.mp4' })
    await until(() => server.counters['closed.one-shot-timeout'] === 1, 2_000, 'the session ended as one-shot')
  })

  it('udp.oneShotIdleMs applies live: lowered on a running server, a waiting one-shot session ends by the new number', async () => {
    const { server, udpPort } = await h.start({ udp: { oneShotIdleMs: 60_000 } }, (s) => s.route(10, () => {}))
    await sendOnce(udpPort, goDatagram(10, '127.0.0.1:9003'))
    await until(() => server.connections.size === 1)
    const cur = server.config
    expect(server.reconfigure(resolveConfig({ ...cur, udp: { ...cur.udp, oneShotIdleMs: 50 } }))).toEqual([])
    await until(() => server.counters['closed.one-shot-timeout'] === 1, 2_000, 'the session ended by the new timeout')
    expect(server.connections.size).toBe(0)
  })

  it('udp.oneShotIdleMs is validated with the key named', () => {
    expect(() => resolveConfig({ udp: { oneShotIdleMs: 0 } })).toThrow(/udp\.oneShotIdleMs/)
  })
})
