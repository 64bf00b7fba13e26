// The connection heartbeat checker (config heartbeat), on real sockets: a
// silent peer is pinged and closed as not-alive, a peer that answers or just
// talks stays, and the frames are zinx's own, byte for byte.
import net, { type AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { connect } from '../../core/client/index.ts'
import { resolveConfig } from '../../core/config.ts'
import type { CloseReason, Connection, Request } from '../../core/types.ts'
import { LEVEL } from '../helpers/logs.ts'
import { testConfig, useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'
import { main as heartbeatExample } from '../../examples/heartbeat-checker.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)

/** A zinx frame on the wire, built by hand: [msgId u32 BE][len u32 BE][data]. */
function zinxFrame(msgId: number, text: string): Buffer {
  const data = Buffer.from(text, 'utf8')
  const head = Buffer.alloc(8)
  head.writeUInt32BE(msgId, 0)
  head.writeUInt32BE(data.length, 4)
  return Buffer.concat([head, data])
}

function recordStops(server: { hooks: { onConnStop: { tap(n: string, fn: (c: Connection, r: CloseReason) => void): void } } }) {
  const stops: Array<{ id: number; reason: CloseReason }> = []
  server.hooks.onConnStop.tap('test', (c, reason) => void stops.push({ id: c.id, reason }))
  return stops
}

describe('heartbeat checker', () => {
  it.each([
    ['by default', {}],
    ['with heartbeat: false', { heartbeat: false as const }],
  ])('is off %s: no pings, and msgId 99999 is an unknown msgId', async (_what, over) => {
    expect(resolveConfig(over).heartbeat || undefined).toBeUndefined()
    const { server, tcpPort } = await h.start(over, (s) => s.route(1, echo))
    const c = await h.tcp(tcpPort)
    c.send(99999, 'heartbeat')
    await c.request(1, 'after')
    expect(server.counters['drop.unknown-msgid']).toBe(1)
    expect(server.counters['heartbeat.pings']).toBe(0)
  })

  it('pings a silent TCP peer `misses` times with zinx frames, then fires onRemoteNotAlive and closes it as not-alive', async () => {
    const order: string[] = []
    let stops!: ReturnType<typeof recordStops>
    const { server, tcpPort, udpPort, logs } = await h.start({ heartbeat: { intervalMs: 40, misses: 2 } }, (s) => {
      s.route(1, echo)
      stops = recordStops(s)
      s.hooks.onRemoteNotAlive.tap('test', (conn) => void order.push(`not-alive:${conn.id}:${conn.closed ? 'closed' : 'open'}`))
      s.hooks.onConnStop.tap('order', (conn, reason) => void order.push(`stop:${conn.id}:${reason}`))
    })
    // A UDP session is never pinged (it ends by idle expiry): it must see nothing.
    const u = await h.udp(udpPort)
    await u.send(1, 'u')
    await u.waitFrames(1)
    const c = await h.tcp(tcpPort)
    const local = `127.0.0.1:${c.socket.localPort}`
    await c.waitClosed(5_000)

    const conn = stops.find((s) => s.reason === 'not-alive')!
    expect(conn).toBeDefined()
    expect(order).toEqual([`not-alive:${conn.id}:open`, `stop:${conn.id}:not-alive`])
    const serverSide = `127.0.0.1:${tcpPort}`
    // zinx makeDefaultMsg, from the server's side: heartbeat [local->remote].
    expect(c.frames.map((f) => [f.msgId, f.text])).toEqual([
      [99999, `heartbeat [${serverSide}->${local}]`],
      [99999, `heartbeat [${serverSide}->${local}]`],
    ])
    expect(server.counters['closed.not-alive']).toBe(1)
    expect(server.counters['heartbeat.pings']).toBe(2)
    const line = logs.find('not alive', LEVEL.info)
    expect(line).toHaveLength(1)
    expect(line[0]).toMatchObject({ conn: conn.id, remote: local, pings: 2 })
    expect(u.frames).toHaveLength(1)
    expect(server.connections.size).toBe(1)
  })

  it('keeps a connection whose enet client answers the pings on its own', async () => {
    let stops!: ReturnType<typeof recordStops>
    const { server, tcpPort } = await h.start({ heartbeat: { intervalMs: 30, misses: 1 } }, (s) => {
      s.route(1, echo)
      stops = recordStops(s)
    })
    const client = connect(`tcp://127.0.0.1:${tcpPort}`, { reconnect: false })
    h.onCleanup(() => client.close())
    const messages: number[] = []
    client.on('message', (m) => void messages.push(m.msgId))
    await client.ready()
    // Beside it, a raw socket that never answers: proof the checker runs.
    const silent = await h.tcp(tcpPort)
    await silent.waitClosed(5_000)
    await until(() => server.counters['heartbeat.pings'] >= 6, 5_000, 'six pings')
    expect(stops.map((s) => s.reason)).toEqual(['not-alive'])
    expect(client.connected).toBe(true)
    expect(server.connections.size).toBe(1)
    // Pings are answered inside the client, not handed to the application.
    expect(messages).toEqual([])
    expect((await client.request(1, 'still here')).data.toString()).toBe('still here')
    // The answers were taken by the checker's own route, not dropped as unknown.
    expect(server.counters['drop.unknown-msgid']).toBe(0)
  })

  it('counts any inbound frame as life', async () => {
    let stops!: ReturnType<typeof recordStops>
    const { server, tcpPort } = await h.start({ heartbeat: { intervalMs: 60, misses: 3 } }, (s) => {
      s.route(1, () => {})
      stops = recordStops(s)
    })
    const chatty = await h.tcp(tcpPort)
    const silent = await h.tcp(tcpPort)
    // Ordinary traffic only: this peer never answers a ping.
    const talk = setInterval(() => chatty.send(1, 'x'), 15)
    h.onCleanup(() => clearInterval(talk))
    await silent.waitClosed(5_000)
    expect(stops).toHaveLength(1)
    expect(stops[0]!.reason).toBe('not-alive')
    expect(chatty.closed).toBe(false)
    expect(chatty.frames.every((f) => f.msgId === 99999)).toBe(true)
    expect(server.connections.size).toBe(1)
  })

  it('takes a zinx client\'s own heartbeat frames as life, not as unknown msgIds', async () => {
    const { server, tcpPort, logs } = await h.start({ heartbeat: { intervalMs: 30, misses: 1 } })
    const c = await h.tcp(tcpPort)
    const raw: Buffer[] = []
    c.socket.on('data', (b: Buffer) => void raw.push(b))
    // What a zinx client does with a ping: nothing; it beats on its own timer.
    // This one beats whenever it is pinged, with the frame zinx's client sends.
    const zinxBeat = () => zinxFrame(0x0001869f, `heartbeat [127.0.0.1:${c.socket.localPort}->127.0.0.1:${tcpPort}]`)
    c.on('change', () => {
      if (!c.closed && c.frames.length > 0) c.write(zinxBeat())
    })
    await c.waitFrames(4, 5_000)
    expect(c.closed).toBe(false)
    // The ping on the wire, byte for byte what zinx's server sends: 00 01 86 9f, length, text.
    const ping = zinxFrame(99999, `heartbeat [127.0.0.1:${tcpPort}->127.0.0.1:${c.socket.localPort}]`)
    expect(ping.subarray(0, 4).toString('hex')).toBe('0001869f')
    expect(Buffer.concat(raw).subarray(0, ping.length).equals(ping)).toBe(true)
    expect(server.counters['drop.unknown-msgid']).toBe(0)
    expect(logs.find('unknown msgId')).toHaveLength(0)
  })

  it('the enet client answers a zinx server\'s ping with zinx\'s frame; heartbeat: false hands it over instead', async () => {
    const got: Buffer[] = []
    const server = net.createServer((socket) => {
      socket.on('data', (b) => void got.push(b))
      const a = socket.address() as AddressInfo
      socket.write(zinxFrame(99999, `heartbeat [127.0.0.1:${a.port}->127.0.0.1:${socket.remotePort}]`))
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    h.onCleanup(() => new Promise((r) => server.close(r)))
    const port = (server.address() as AddressInfo).port

    const client = connect(`tcp://127.0.0.1:${port}`, { reconnect: false })
    h.onCleanup(() => client.close())
    await client.ready()
    await until(() => Buffer.concat(got).length > 0, 2_000, 'the answer')
    expect(Buffer.concat(got).equals(zinxFrame(99999, `heartbeat [127.0.0.1:${client.localPort}->127.0.0.1:${port}]`))).toBe(true)

    got.length = 0
    const plain = connect(`tcp://127.0.0.1:${port}`, { reconnect: false, heartbeat: false })
    h.onCleanup(() => plain.close())
    const m = await new Promise<{ msgId: number; data: Buffer }>((r) => plain.once('message', r))
    expect(m.msgId).toBe(99999)
    expect(m.data.toString()).toMatch(/^heartbeat \[127\.0\.0\.1:\d+->127\.0\.0\.1:\d+\]$/)
    await plain.request(5, 'flush', { timeoutMs: 50 }).catch(() => {})
    expect(Buffer.concat(got).readUInt32BE(0)).toBe(5)
  })

  it('pingMsgId is the checker\'s: an app route on it clashes, naming core:heartbeat', async () => {
    const { server } = await h.start({ heartbeat: { pingMsgId: 7 } })
    expect(() => server.route(7, echo)).toThrow(/msgId 7 is already routed by core:heartbeat; app cannot take it/)
    expect(() => resolveConfig(testConfig({ heartbeat: { intervalMs: 'x' as never } }))).toThrow('heartbeat.intervalMs: expected number, got string')
    expect(() => resolveConfig({ heartbeat: { interval: 5 } })).toThrow('heartbeat: unknown key "interval"')
    expect(() => resolveConfig({ heartbeat: true as never })).toThrow('config: heartbeat: expected false or object')
    expect(() => resolveConfig({ heartbeat: { misses: 0 } })).toThrow('config: heartbeat.misses: Number must be greater than or equal to 1')
  })

  it('turns on, changes and off live through reconfigure', async () => {
    const { server, tcpPort, logs } = await h.start({}, (s) => s.route(7, echo))
    const c = await h.tcp(tcpPort)
    server.reconfigure(resolveConfig(testConfig({ heartbeat: { intervalMs: 20, misses: 50 } })))
    await c.waitFrames(2, 5_000)
    expect(c.frames[0]!.msgId).toBe(99999)
    // A pingMsgId another route holds is refused; the checker keeps its settings.
    server.reconfigure(resolveConfig(testConfig({ heartbeat: { intervalMs: 20, misses: 50, pingMsgId: 7 } })))
    expect(logs.find('config: heartbeat: msgId 7 is already routed by app', LEVEL.error)).toHaveLength(1)
    expect(server.config.heartbeat || undefined).toMatchObject({ pingMsgId: 99999 })
    const n = c.frames.length
    await c.waitFrames(n + 1, 5_000)
    expect(c.frames[n]!.msgId).toBe(99999)
    server.reconfigure(resolveConfig(testConfig({})))
    expect(server.config.heartbeat).toBeUndefined()
    const pings = server.counters['heartbeat.pings']
    // Off: msgId 99999 is unknown again, and a round trip later no ping was sent.
    c.send(99999, 'x')
    await c.request(7, 'echo')
    expect(server.counters['drop.unknown-msgid']).toBe(1)
    expect(server.counters['heartbeat.pings']).toBe(pings)
  })

  it('examples/heartbeat-checker.ts prints what the README shows and exits 0', async () => {
    const lines: string[] = []
    expect(await heartbeatExample((l) => void lines.push(l))).toBe(0)
    expect(lines).toEqual([
      'silent socket got msgId 99999: heartbeat [127.0.0.1:P->127.0.0.1:P]',
      'silent socket got msgId 99999: heartbeat [127.0.0.1:P->127.0.0.1:P]',
      'onRemoteNotAlive: silent socket',
      'onConnStop: silent socket, reason not-alive',
      'client: still here',
      'onConnStop: client, reason server-close',
    ])
  })
})
