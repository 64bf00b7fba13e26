// WebSocket transport from Node: one binary message = one TLV frame, through
// the same dispatch, limits, hooks and plugins as TCP; refused input closes
// with the WebSocket close code that says why.
import http from 'node:http'
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { connect } from '../../core/client/index.ts'
import type { StreamConnection } from '../../core/transport/stream.ts'
import type { CloseReason, Connection, Request } from '../../core/types.ts'
import { LEVEL } from '../helpers/logs.ts'
import { createProject, echoPlugin } from '../helpers/project.ts'
import { useHarness } from '../helpers/server.ts'
import { deferred, until } from '../helpers/until.ts'
import { frame, rawWs, wsHeader, wsPeer } from '../helpers/ws.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)
const WS = { host: '127.0.0.1', port: 0 }

function stopsOf(server: { hooks: { onConnStop: { tap(name: string, fn: (c: Connection, r: CloseReason) => void): void } } }) {
  const stops: Array<{ conn: Connection; reason: CloseReason }> = []
  server.hooks.onConnStop.tap('test', (conn, reason) => void stops.push({ conn, reason }))
  return stops
}

async function startWs(over: Parameters<typeof h.start>[0] = {}, setup?: Parameters<typeof h.start>[1]) {
  const harness = await h.start({ ...over, ws: { ...WS, ...over.ws } }, setup)
  const port = harness.server.address().ws!.port
  return { ...harness, port, url: `ws://127.0.0.1:${port}/` }
}

function client(url: string) {
  const c = connect(url, { reconnect: false })
  h.onCleanup(() => c.close())
  return c
}

async function peer(url: string) {
  const p = await wsPeer(url)
  h.onCleanup(() => p.ws.terminate())
  return p
}

/** The close code in the first WebSocket close frame the server writes to a raw socket. */
function closeCodeOf(s: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0)
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk])
      if (buf.length >= 4 && buf[0] === 0x88) resolve(buf.readUInt16BE(2))
    })
    s.on('close', () => reject(new Error(`closed without a close frame (${buf.length} bytes)`)))
  })
}

describe('WebSocket transport', () => {
  it('is off by default', async () => {
    const { server } = await h.start()
    expect(server.address().ws).toBeUndefined()
    expect(server.config.ws.enabled).toBe(false)
  })

  it('runs the same routes, hooks and per-connection order as TCP', async () => {
    const starts: Connection[] = []
    let stops!: ReturnType<typeof stopsOf>
    const { url, tcpPort } = await startWs({}, (s) => {
      s.route(1, echo)
      // Later requests finish sooner: replies still leave in arrival order.
      s.route(2, async (req) => {
        for (let i = 0; i < 20 - Number(req.text()); i++) await new Promise((r) => setImmediate(r))
        req.reply(2, req.data)
      })
      s.hooks.onConnStart.tap('test', (c) => void starts.push(c))
      s.hooks.beforeHandle.tap('test', (req) => (req.msgId === 9 ? 'denied' : undefined))
      s.route(9, echo)
      stops = stopsOf(s)
    })
    const c = client(url)
    expect((await c.request(1, 'over ws')).data.toString()).toBe('over ws')
    expect(c.protocol).toBe('ws')
    expect(starts.map((s) => s.protocol)).toEqual(['ws'])
    expect(starts[0]!.remote.address).toBe('127.0.0.1')
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => c.request(2, String(i))))
    expect(replies.map((m) => m.data.toString())).toEqual(Array.from({ length: 20 }, (_, i) => String(i)))
    await expect(c.request(9, 'x', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'ENET_ERR_REQUEST_TIMEOUT' })
    // The same server answers TCP peers with the same routes.
    const t = client(`tcp://127.0.0.1:${tcpPort}`)
    expect((await t.request(1, 'over tcp')).data.toString()).toBe('over tcp')
    await c.close()
    await until(() => stops.some((s) => s.conn.protocol === 'ws'))
    expect(stops.find((s) => s.conn.protocol === 'ws')!.reason).toBe('peer-closed')
  })

  it('refuses a text message with 1003 and keeps serving others', async () => {
    let stops!: ReturnType<typeof stopsOf>
    const { url, logs } = await startWs({}, (s) => {
      s.route(1, echo)
      stops = stopsOf(s)
    })
    const good = client(url)
    const bad = await peer(url)
    bad.ws.send('hello')
    expect(await bad.closed).toMatchObject({ code: 1003, reason: 'text-message' })
    await until(() => stops.length === 1)
    expect(stops[0]!.reason).toBe('text-message')
    expect(logs.find('text WebSocket message', LEVEL.warn)).toHaveLength(1)
    expect((await good.request(1, 'still')).data.toString()).toBe('still')
  })

  it('what came before a refused message is answered first, then the close', async () => {
    const { url } = await startWs({}, (s) =>
      s.route(1, async (req) => {
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
        req.reply(1, req.data)
      }),
    )
    for (const [bad, code] of [['text', 1003], [frame(1, 'abc').subarray(0, 9), 1007]] as const) {
      const p = await peer(url)
      p.ws.send(frame(1, 'first'))
      p.ws.send(frame(1, 'second'))
      p.ws.send(bad)
      p.ws.send(frame(1, 'after the bad one'))
      expect((await p.closed).code).toBe(code)
      expect(p.frames.map((f) => f.text)).toEqual(['first', 'second'])
    }
  })

  it('a frame that declares more than maxPacketSize closes with 1009; exactly maxPacketSize is fine', async () => {
    const { url, server } = await startWs({ limits: { maxPacketSize: 1024 } }, (s) => s.route(1, echo))
    const c = client(url)
    expect((await c.request(1, Buffer.alloc(1024, 7))).data.length).toBe(1024)
    const bad = await peer(url)
    const header = Buffer.alloc(8)
    header.writeUInt32BE(1, 0)
    header.writeUInt32BE(1025, 4)
    bad.ws.send(header)
    expect((await bad.closed).code).toBe(1009)
    expect(server.counters['closed.frame-too-large']).toBe(1)
  })

  it('a WebSocket message longer than the payload bound is refused with 1009 from its header alone', async () => {
    let stops!: ReturnType<typeof stopsOf>
    const { port, server, logs } = await startWs({ limits: { maxPacketSize: 1024 } }, (s) => {
      s.route(1, echo)
      stops = stopsOf(s)
    })
    const s = await rawWs(port)
    const code = closeCodeOf(s)
    // 64 MiB announced, not one byte of it sent.
    s.write(wsHeader(64 * 1024 * 1024))
    expect(await code).toBe(1009)
    await until(() => stops.length === 1)
    expect(stops[0]!.reason).toBe('frame-too-large')
    expect(server.counters['closed.frame-too-large']).toBe(1)
    expect(logs.find('closing connection: WebSocket message longer than one frame of maxPacketSize 1024', LEVEL.warn)).toHaveLength(1)
    s.destroy()
  })

  it('a message that is not exactly one whole frame closes with 1007', async () => {
    const { url } = await startWs({}, (s) => s.route(1, echo))
    for (const data of [Buffer.concat([frame(1, 'a'), frame(1, 'b')]), frame(1, 'abc').subarray(0, 9), Buffer.from([0, 0, 1])]) {
      const p = await peer(url)
      p.ws.send(data)
      expect(await p.closed).toMatchObject({ code: 1007, reason: 'bad-frame' })
      expect(p.frames).toEqual([])
    }
  })

  it('answers only on ws.path: another path gets 404, a plain HTTP request 426', async () => {
    const { port } = await startWs({ ws: { path: '/enet' } }, (s) => s.route(1, echo))
    await expect(wsPeer(`ws://127.0.0.1:${port}/`)).rejects.toThrow('HTTP 404')
    const c = client(`ws://127.0.0.1:${port}/enet`)
    expect((await c.request(1, 'on path')).data.toString()).toBe('on path')
    const status = await new Promise<number>((resolve, reject) => http.get(`http://127.0.0.1:${port}/enet`, (res) => resolve(res.statusCode!)).on('error', reject))
    expect(status).toBe(426)
  })

  it('an upgrade request whose headers never finish is closed after frameTimeoutMs; a whole one is served', async () => {
    const { port, url } = await startWs({ limits: { frameTimeoutMs: 300 } }, (s) => s.route(1, echo))
    const half = net.connect(port, '127.0.0.1')
    h.onCleanup(() => half.destroy())
    await new Promise<void>((resolve) => half.once('connect', () => resolve()))
    const t0 = performance.now()
    half.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n')
    const closed = new Promise<number>((resolve) => half.once('close', () => resolve(performance.now() - t0)))
    half.resume()
    const c = client(url)
    expect((await c.request(1, 'whole')).data.toString()).toBe('whole')
    // No sooner than the timeout (a lower bound only: a loaded machine cannot break it); without a
    // check interval under the timeout it would take Node's default 30 s and this test would time out.
    expect(await closed).toBeGreaterThanOrEqual(290)
  })

  it('maxConnPerIp counts TCP and WebSocket connections together; a refused upgrade gets 503', async () => {
    const { url, tcpPort, server } = await startWs({ limits: { maxConnPerIp: 2 } }, (s) => s.route(1, echo))
    const t = await h.tcp(tcpPort)
    await t.request(1, 't')
    const w = client(url)
    await w.request(1, 'w')
    await expect(wsPeer(url)).rejects.toThrow('HTTP 503')
    expect(server.counters['refused.max-conn-per-ip']).toBe(1)
    const t2 = await h.tcp(tcpPort)
    await t2.waitClosed()
    expect(server.counters['refused.max-conn-per-ip']).toBe(2)
    expect((await w.request(1, 'w2')).data.toString()).toBe('w2')
  })

  it('maxInflightPerConn pauses reading the WebSocket; nothing is lost or reordered', async () => {
    const gate = deferred()
    let running = 0
    let most = 0
    const { url, server } = await startWs({ limits: { maxInflightPerConn: 4, handlerTimeoutMs: 10_000 } }, (s) =>
      s.route(3, async (req) => {
        most = Math.max(most, ++running)
        await gate.promise
        running--
        req.reply(3, req.data)
      }),
    )
    const c = client(url)
    const replies = Array.from({ length: 40 }, (_, i) => c.request(3, String(i), { timeoutMs: 10_000 }))
    await until(() => server.dispatcher.active === 1)
    const conn = [...server.connections][0]!
    // Ordered: one runs, three wait in the queue, the rest wait unread.
    await until(() => (conn as unknown as { load: number }).load === 4)
    gate.resolve()
    expect((await Promise.all(replies)).map((m) => m.data.toString())).toEqual(Array.from({ length: 40 }, (_, i) => String(i)))
    expect(most).toBe(1)
    expect(server.counters.requests).toBe(40)
  })

  it('a message not completed within frameTimeoutMs closes with frame-timeout; an idle peer stays', async () => {
    let stops!: ReturnType<typeof stopsOf>
    const { port, url, server, logs } = await startWs({ limits: { frameTimeoutMs: 150 } }, (s) => {
      s.route(1, echo)
      stops = stopsOf(s)
    })
    const good = client(url)
    expect((await good.request(1, 'whole')).data.toString()).toBe('whole')
    const slow = await rawWs(port)
    const code = closeCodeOf(slow)
    // 100 bytes announced, 10 sent.
    slow.write(Buffer.concat([wsHeader(100), Buffer.alloc(10)]))
    expect(await code).toBe(1008)
    await until(() => stops.length === 1)
    expect(stops[0]!.reason).toBe('frame-timeout')
    expect(server.counters['closed.frame-timeout']).toBe(1)
    expect(logs.find('closing connection: frame not completed in time', LEVEL.warn)[0]).toMatchObject({ protocol: 'ws' })
    expect((await good.request(1, 'still here')).data.toString()).toBe('still here')
    slow.destroy()
  })

  it('an idle WebSocket closes with 1001 idle-timeout', async () => {
    const { url, server } = await startWs({ limits: { idleTimeoutMs: 100 } }, (s) => s.route(1, echo))
    const p = await peer(url)
    expect(await p.closed).toMatchObject({ code: 1001, reason: 'idle-timeout' })
    expect(server.counters['closed.idle-timeout']).toBe(1)
  })

  it('a peer that never reads is closed as a slow consumer; unsent bytes stay within budget + one frame', async () => {
    const BUDGET = 64 * 1024
    const CHUNK = 32 * 1024
    let conn: StreamConnection | undefined
    let most = 0
    let refused = false
    let stops!: ReturnType<typeof stopsOf>
    const { url, server } = await startWs({ limits: { maxOutboundBytes: BUDGET } }, (s) => {
      stops = stopsOf(s)
      s.hooks.onConnStart.tap('test', (c) => void (conn = c as StreamConnection))
      s.route(7, (req) => {
        for (let i = 0; i < 128; i++) {
          const ok = req.reply(7, Buffer.alloc(CHUNK, 1))
          most = Math.max(most, conn!.unsent)
          if (!ok) return void (refused = true)
        }
      })
    })
    const p = await peer(url)
    p.ws.pause()
    for (let i = 0; i < 50 && stops.length === 0; i++) {
      const before = server.counters.requests
      p.ws.send(frame(7))
      await until(() => server.counters.requests > before || stops.length > 0)
    }
    await until(() => stops.length === 1)
    expect(stops[0]!.reason).toBe('slow-consumer')
    expect(server.counters['closed.slow-consumer']).toBe(1)
    expect(refused).toBe(true)
    expect(most).toBeGreaterThan(BUDGET)
    // ws adds a 4- or 10-byte header to each frame.
    expect(most).toBeLessThanOrEqual(BUDGET + CHUNK + 8 + 10)
    await until(() => server.connections.size === 0)
  })

  it('the global outbound budget sheds WebSocket queues too', async () => {
    const { url, server } = await startWs({ limits: { maxOutboundBytes: 64 * 1024 * 1024, maxOutboundTotalBytes: 2 * 1024 * 1024 } }, (s) =>
      s.route(5, (req) => {
        for (let i = 0; i < 64; i++) req.reply(5, Buffer.alloc(64 * 1024))
      }),
    )
    const stops = stopsOf(server)
    const p = await peer(url)
    p.ws.pause()
    // 4 MiB a request; the kernel's buffers take some before anything waits unsent.
    for (let i = 0; i < 20 && stops.length === 0; i++) {
      const before = server.counters.requests
      p.ws.send(frame(5))
      await until(() => server.counters.requests > before || stops.length > 0)
    }
    await until(() => stops.length === 1, 5_000, 'the shed')
    expect(stops[0]!.reason).toBe('slow-consumer')
    expect(server.counters['closed.outbound-budget']).toBe(1)
  })
})

describe('WebSocket and plugins', () => {
  it('a plugin route answers over WebSocket, and reloading the plugin keeps the connection', async () => {
    const project = await createProject({ 'plugins/echo/index.ts': echoPlugin('v1') }, { flags: { ws: WS, admin: { socket: false } } })
    h.onCleanup(() => project.close())
    const c = client(`ws://127.0.0.1:${project.app.server.address().ws!.port}`)
    expect((await c.request(1, 'a')).data.toString()).toBe('v1:a')
    const reloaded = project.nextEvents(1, 'reloaded')
    project.write('plugins/echo/index.ts', echoPlugin('v2'))
    await reloaded
    expect((await c.request(1, 'b')).data.toString()).toBe('v2:b')
    expect(c.connected).toBe(true)
  })
})
