// The client against plain net/dgram servers speaking the codecs directly,
// so these tests depend on nothing of the enet server.
import { once } from 'node:events'
import dgram from 'node:dgram'
import net, { type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { connect, type Client, type Message } from '../../core/client/index.ts'
import { enetDatagram, ltvLE, tlvBE, tlvDatagram, toBuffer, type FrameCodec } from '../../core/wire/codec.ts'
import { COOKIE_CHALLENGE, COOKIE_REQUEST } from '../../core/wire/cookie.ts'
import type { Payload } from '../../core/types.ts'
import { until } from '../helpers/until.ts'

interface Peer {
  socket: net.Socket
  index: number
  send(msgId: number, data?: Payload): void
}
type OnFrame = (peer: Peer, msgId: number, data: Buffer) => void

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function track(c: Client): Client {
  cleanup.push(() => c.close())
  return c
}

async function tcpServer(onFrame: OnFrame, codec: FrameCodec = tlvBE, onConnection?: (peer: Peer) => void, port = 0) {
  const sockets: net.Socket[] = []
  const server = net.createServer((socket) => {
    const peer: Peer = { socket, index: sockets.length, send: (id, data) => socket.write(codec.encode(id, toBuffer(data))) }
    sockets.push(socket)
    socket.on('error', () => {})
    const d = codec.createDecoder(1 << 20)
    socket.on('data', (chunk) => {
      d.push(chunk)
      while (d.next()) onFrame(peer, d.msgId, Buffer.from(d.data))
    })
    onConnection?.(peer)
  })
  server.listen(port, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => {
    for (const s of sockets) s.destroy()
    return new Promise((r) => server.close(r))
  })
  const bound = (server.address() as AddressInfo).port
  return { server, sockets, port: bound, url: `tcp://127.0.0.1:${bound}` }
}

async function udpServer(onMessage: (msg: Buffer, reply: (buf: Buffer) => void, rinfo: dgram.RemoteInfo) => void) {
  const socket = dgram.createSocket('udp4')
  socket.on('message', (msg, rinfo) => onMessage(msg, (buf) => socket.send(buf, rinfo.port, rinfo.address), rinfo))
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  cleanup.push(() => new Promise<void>((r) => socket.close(() => r())))
  return { socket, url: `udp://127.0.0.1:${socket.address().port}` }
}

/** A port nothing listens on: bind one, then let it go. */
async function deadPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as AddressInfo).port
  await new Promise((r) => s.close(r))
  return port
}

const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
const echo: OnFrame = (peer, msgId, data) => peer.send(msgId, data)

describe('connect() URLs', () => {
  it.each(['http://127.0.0.1:1', 'tcp://127.0.0.1', 'tcp://:80', 'tcp://127.0.0.1:0', 'tcp://h:70000', 'garbage', 'udp://[::1]'])(
    'rejects %s with ENET_ERR_BAD_URL',
    (url) => {
      expect(() => connect(url)).toThrow(expect.objectContaining({ code: 'ENET_ERR_BAD_URL' }))
    },
  )

  it('rejects a codec of the wrong kind', () => {
    expect(() => connect('udp://127.0.0.1:1', { codec: tlvBE })).toThrow(expect.objectContaining({ code: 'ENET_ERR_CONFIG' }))
    expect(() => connect('tcp://127.0.0.1:1', { codec: enetDatagram })).toThrow(expect.objectContaining({ code: 'ENET_ERR_CONFIG' }))
  })
})

describe('TCP client', () => {
  it('answers requests FIFO per replyId and still emits every reply as a message', async () => {
    const held: Buffer[] = []
    const srv = await tcpServer((peer, msgId, data) => {
      if (msgId !== 20) return void held.push(data)
      // The later request with another replyId is answered first, then the held ones in order.
      peer.send(20, `quick ${data}`)
      for (const d of held) peer.send(10, d)
    })
    const c = track(connect(srv.url))
    const seen: Message[] = []
    c.on('message', (m) => seen.push(m))
    await c.ready()
    expect(c.connected).toBe(true)
    expect(c.localPort).toBe(srv.sockets[0]!.remotePort)
    const lists = ['a', 'b', 'c'].map((d) => c.request(11, d, { replyId: 10 }))
    const quick = await c.request(20, 'x')
    expect(quick.data.toString()).toBe('quick x')
    expect((await Promise.all(lists)).map((m) => `${m.msgId} ${m.data}`)).toEqual(['10 a', '10 b', '10 c'])
    expect(seen.map((m) => `${m.msgId} ${m.data}`)).toEqual(['20 quick x', '10 a', '10 b', '10 c'])
  })

  it('emits unsolicited messages without resolving a request for another id', async () => {
    const srv = await tcpServer((peer, msgId) => {
      peer.send(99, 'push')
      peer.send(msgId, 'reply')
    })
    const c = track(connect(srv.url))
    const pushed = once(c, 'message')
    const reply = await c.request(7, '')
    expect(reply).toEqual({ msgId: 7, data: Buffer.from('reply') })
    expect((await pushed)[0]).toEqual({ msgId: 99, data: Buffer.from('push') })
  })

  it('speaks ltv-le when given that codec', async () => {
    const srv = await tcpServer(echo, ltvLE)
    const c = track(connect(srv.url, { codec: ltvLE }))
    expect((await c.request(10, '127.0.0.1:12345')).data.toString()).toBe('127.0.0.1:12345')
  })

  it('rejects a request that gets no reply in time, and clears its timer', async () => {
    const srv = await tcpServer((peer, msgId, data) => {
      if (msgId === 2) peer.send(2, data)
    })
    const c = track(connect(srv.url))
    await c.ready()
    const base = timeouts()
    const silent = c.request(1, 'nobody answers', { timeoutMs: 20 })
    expect(timeouts()).toBe(base + 1)
    await expect(silent).rejects.toMatchObject({ code: 'ENET_ERR_REQUEST_TIMEOUT' })
    // At most: another timer of this process may end meanwhile on a loaded machine.
    expect(timeouts()).toBeLessThanOrEqual(base)
    expect((await c.request(2, 'still works')).data.toString()).toBe('still works')
  })

  it('close() rejects pending requests with ENET_ERR_CLIENT_CLOSED and leaves no timer', async () => {
    const srv = await tcpServer(() => {})
    const c = connect(srv.url)
    await c.ready()
    const base = timeouts()
    const pending = [c.request(1, 'a', { timeoutMs: 60_000 }), c.request(1, 'b', { timeoutMs: 60_000 })]
    const rejected = pending.map((p) => expect(p).rejects.toMatchObject({ code: 'ENET_ERR_CLIENT_CLOSED' }))
    const disconnected = once(c, 'disconnect')
    await c.close()
    await Promise.all(rejected)
    expect((await disconnected)[0]).toBe('client-close')
    expect(timeouts()).toBe(base)
    expect(c.connected).toBe(false)
    expect(() => c.send(1, 'x')).toThrow(expect.objectContaining({ code: 'ENET_ERR_CLIENT_CLOSED' }))
    await expect(c.request(1)).rejects.toMatchObject({ code: 'ENET_ERR_CLIENT_CLOSED' })
    await expect(c.ready()).rejects.toMatchObject({ code: 'ENET_ERR_CLIENT_CLOSED' })
    await c.close()
  })

  it('rejects an invalid msgId', () => {
    const c = track(connect('tcp://127.0.0.1:9', { reconnect: false }))
    c.ready().catch(() => {})
    expect(() => c.send(-1)).toThrow(expect.objectContaining({ code: 'ENET_ERR_MSGID_INVALID' }))
    expect(() => c.send(2 ** 32)).toThrow(expect.objectContaining({ code: 'ENET_ERR_MSGID_INVALID' }))
  })

  it('queues sends made before the connection is up, within maxQueuedBytes', async () => {
    const got: string[] = []
    const srv = await tcpServer((peer, msgId, data) => {
      got.push(`${msgId} ${data}`)
      peer.send(msgId, data)
    })
    const c = track(connect(srv.url, { maxQueuedBytes: 30 }))
    c.send(1, '0123456789')
    expect(() => c.send(2, '0123456789')).toThrow(expect.objectContaining({ code: 'ENET_ERR_NOT_CONNECTED' }))
    await c.ready()
    await c.request(3, 'after')
    expect(got).toEqual(['1 0123456789', '3 after'])
  })

  it('reconnects with backoff after the server drops it; queued sends and later requests go through', async () => {
    const got: string[] = []
    const srv = await tcpServer((peer, msgId, data) => {
      got.push(`${peer.index}:${msgId}`)
      peer.send(msgId, data)
    })
    const c = track(connect(srv.url, { reconnect: { initialMs: 5, maxMs: 20 } }))
    const events: string[] = []
    c.on('connect', () => events.push('connect'))
    c.on('disconnect', (reason) => events.push(`disconnect ${reason}`))
    await c.request(1, 'first')
    const disconnected = once(c, 'disconnect')
    srv.sockets[0]!.destroy()
    await disconnected
    expect(c.connected).toBe(false)
    c.send(2, 'while down')
    await once(c, 'connect')
    expect((await c.request(3, 'again')).data.toString()).toBe('again')
    expect(events).toEqual(['connect', 'disconnect peer-closed', 'connect'])
    expect(got).toEqual(['0:1', '1:2', '1:3'])
  })

  it('a frame over maxPacketSize from the server drops the socket and reconnects', async () => {
    const srv = await tcpServer(echo, tlvBE, (peer) => {
      if (peer.index === 0) peer.socket.write(Buffer.from('0000000100000400', 'hex'))
    })
    const c = track(connect(srv.url, { maxPacketSize: 16, reconnect: { initialMs: 1 } }))
    const errors: unknown[] = []
    c.on('error', (e) => errors.push(e))
    // Not events.once: it rejects on the 'error' event this test expects.
    const reason = await new Promise((resolve) => c.once('disconnect', resolve))
    expect(reason).toBe('frame-too-large')
    expect(errors).toEqual([expect.objectContaining({ code: 'ENET_ERR_FRAME_TOO_LARGE' })])
    await once(c, 'connect')
    expect((await c.request(5, 'ok')).data.toString()).toBe('ok')
    expect(srv.sockets).toHaveLength(2)
  })

  it('a server that accepts and closes at once gets backed-off attempts, not a storm', async () => {
    const at: number[] = []
    const srv = await tcpServer(echo, tlvBE, (peer) => {
      at.push(performance.now())
      peer.socket.destroy()
    })
    track(connect(srv.url, { reconnect: { initialMs: 20, maxMs: 10_000, factor: 2, jitter: 0 } }))
    await until(() => at.length >= 5, 5_000, '5 connections')
    // Each short-lived connection counts as a failed attempt: delays 20, 40, 80, 160 ms
    // (timers never fire early by more than a millisecond; a reset backoff would give 20 ms each).
    expect(at[4]! - at[3]!).toBeGreaterThanOrEqual(150)
  })

  it('a connection that stayed up past stableMs resets the backoff', async () => {
    const at: number[] = []
    const srv = await tcpServer(echo, tlvBE, (peer) => void at.push(performance.now()))
    // Factor 10: without a reset the 4th retry would wait 20 s, past the 3 s each wait below allows.
    const c = track(connect(srv.url, { reconnect: { initialMs: 20, maxMs: 60_000, factor: 10, jitter: 0, stableMs: 50 } }))
    for (let i = 1; i <= 4; i++) {
      await c.request(1, 'up')
      await new Promise((r) => setTimeout(r, 60))
      srv.sockets.at(-1)!.destroy()
      await until(() => at.length > i, 3_000, `connection ${i + 1}`)
    }
    expect((await c.request(1, 'still')).data.toString()).toBe('still')
  })

  it('a request that timed out while queued is never sent: its reply cannot answer the next request', async () => {
    const port = await deadPort()
    const c = track(connect(`tcp://127.0.0.1:${port}`, { reconnect: { initialMs: 20, maxMs: 50, jitter: 0 } }))
    await expect(c.request(1, 'A', { timeoutMs: 30 })).rejects.toMatchObject({ code: 'ENET_ERR_REQUEST_TIMEOUT' })
    const got: string[] = []
    await tcpServer((peer, msgId, data) => {
      got.push(data.toString())
      peer.send(msgId, data)
    }, tlvBE, undefined, port)
    expect((await c.request(1, 'B', { timeoutMs: 3_000 })).data.toString()).toBe('B')
    expect(got).toEqual(['B'])
  })

  it('close() resolves even when the server has stopped reading', async () => {
    const srv = await tcpServer(echo, tlvBE, (peer) => peer.socket.pause())
    const c = track(connect(srv.url, { reconnect: false, maxQueuedBytes: 32 * 1024 * 1024 }))
    await c.ready()
    const chunk = Buffer.alloc(64 * 1024)
    for (let i = 0; i < 256; i++) c.send(1, chunk)
    await c.close()
    expect(c.connected).toBe(false)
  })

  it('send() throws once maxQueuedBytes wait unread by the server; one large frame still goes to a reading server', async () => {
    // A 512 KiB frame with a 64 KiB bound: judged before the write, it goes.
    const big = Buffer.alloc(512 * 1024, 1)
    const reading = await tcpServer(echo)
    const r = track(connect(reading.url, { reconnect: false, maxQueuedBytes: 64 * 1024 }))
    await r.ready()
    expect((await r.request(1, big, { timeoutMs: 5_000 })).data.length).toBe(big.length)

    const srv = await tcpServer(echo, tlvBE, (peer) => peer.socket.pause())
    const c = track(connect(srv.url, { reconnect: false }))
    await c.ready()
    const chunk = Buffer.alloc(64 * 1024)
    let sent = 0
    const err = (() => {
      try {
        for (; sent < 1_000; sent++) c.send(1, chunk)
      } catch (e) {
        return e
      }
    })()
    expect(err).toMatchObject({ code: 'ENET_ERR_NOT_CONNECTED', message: expect.stringMatching(/not taken by the server; maxQueuedBytes 1048576/) })
    // Up to 1 MiB beyond what the kernel buffers took: bounded, far from 1,000 frames.
    expect(sent).toBeLessThan(200)
  })

  it('stops reconnecting after close(), even with a retry timer pending', async () => {
    const srv = await tcpServer(echo)
    const c = connect(srv.url, { reconnect: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } })
    await c.ready()
    const base = timeouts()
    srv.sockets[0]!.destroy()
    await once(c, 'disconnect')
    expect(timeouts()).toBe(base + 1)
    await c.close()
    expect(timeouts()).toBe(base)
    await expect(c.ready()).rejects.toMatchObject({ code: 'ENET_ERR_CLIENT_CLOSED' })
  })

  it('keeps retrying a refusing port until closed; ready() then rejects', async () => {
    const c = connect(`tcp://127.0.0.1:${await deadPort()}`, { reconnect: { initialMs: 1, maxMs: 5 } })
    const ready = expect(c.ready()).rejects.toMatchObject({ code: 'ENET_ERR_CLIENT_CLOSED' })
    let refused = 0
    await new Promise<void>((resolve) => {
      c.on('error', (e) => {
        expect((e as NodeJS.ErrnoException).code).toBe('ECONNREFUSED')
        if (++refused === 3) resolve()
      })
    })
    const base = timeouts()
    await c.close()
    await ready
    expect(timeouts()).toBeLessThanOrEqual(base)
  })

  it('without reconnect: a refused connection rejects ready(), a drop rejects pending requests', async () => {
    const refused = connect(`tcp://127.0.0.1:${await deadPort()}`, { reconnect: false })
    await expect(refused.ready()).rejects.toMatchObject({ code: 'ENET_ERR_NOT_CONNECTED' })
    expect(() => refused.send(1)).toThrow(expect.objectContaining({ code: 'ENET_ERR_NOT_CONNECTED' }))
    await refused.close()

    const srv = await tcpServer((peer) => peer.socket.destroy())
    const c = track(connect(srv.url, { reconnect: false }))
    await expect(c.request(1, 'x', { timeoutMs: 60_000 })).rejects.toMatchObject({ code: 'ENET_ERR_NOT_CONNECTED' })
  })
})

describe('UDP client', () => {
  it('sends datagrams from a bound port and matches replies; short datagrams are dropped', async () => {
    let from = 0
    const srv = await udpServer((msg, reply, rinfo) => {
      from = rinfo.port
      const m = { msgId: 0, data: Buffer.alloc(0) }
      enetDatagram.decode(msg, m)
      reply(Buffer.from([0, 1]))
      reply(enetDatagram.encode(m.msgId === 11 ? 10 : m.msgId, m.data))
    })
    const c = track(connect(srv.url))
    await c.ready()
    expect(c.protocol).toBe('udp')
    const seen: Message[] = []
    c.on('message', (m) => seen.push(m))
    expect(await c.request(11, 'list', { replyId: 10 })).toEqual({ msgId: 10, data: Buffer.from('list') })
    expect(from).toBe(c.localPort)
    expect(seen).toEqual([{ msgId: 10, data: Buffer.from('list') }])
  })

  it('speaks tlv-be datagrams and drops one whose length lies', async () => {
    const srv = await udpServer((msg, reply) => {
      const lie = Buffer.from(msg)
      lie.writeUInt32BE(999, 4)
      reply(lie)
      reply(msg)
    })
    const c = track(connect(srv.url, { codec: tlvDatagram }))
    const seen: Message[] = []
    c.on('message', (m) => seen.push(m))
    expect((await c.request(4, 'honest')).data.toString()).toBe('honest')
    expect(seen).toHaveLength(1)
  })

  it('takes replies only from the server address: a datagram from anywhere else is ignored', async () => {
    const srv = await udpServer((msg, reply) => setTimeout(() => reply(enetDatagram.encode(20, Buffer.from('127.0.0.1:7001'))), 50))
    const c = track(connect(srv.url))
    await c.ready()
    const answer = c.request(20, 'foo', { timeoutMs: 2_000 })
    const stranger = dgram.createSocket('udp4')
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', r))
    cleanup.push(() => new Promise<void>((r) => stranger.close(() => r())))
    stranger.send(enetDatagram.encode(20, Buffer.from('6.6.6.6:666')), c.localPort!, '127.0.0.1')
    expect((await answer).data.toString()).toBe('127.0.0.1:7001')
  })

  it('validateAddress asks again when a cookie request or challenge is lost', async () => {
    let asked = 0
    const srv = await udpServer((msg, reply) => {
      if (msg.readUInt32BE(0) !== COOKIE_REQUEST) return
      // The first request is lost.
      if (++asked > 1) reply(enetDatagram.encode(COOKIE_CHALLENGE, Buffer.alloc(8, 7)))
    })
    const c = track(connect(srv.url, { validateAddress: true }))
    await c.ready()
    expect(asked).toBe(2)
  })

  it('validateAddress with nobody answering: ready() fails after its retries, no timer left', async () => {
    const silent = dgram.createSocket('udp4')
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', r))
    cleanup.push(() => new Promise<void>((r) => silent.close(() => r())))
    let asked = 0
    silent.on('message', () => asked++)
    const base = timeouts()
    const c = track(connect(`udp://127.0.0.1:${silent.address().port}`, { validateAddress: true }))
    await expect(c.ready()).rejects.toMatchObject({ code: 'ENET_ERR_NOT_CONNECTED', message: expect.stringMatching(/no address-validation challenge after 5 requests/) })
    expect(asked).toBe(5)
    // Its retry timer is gone (another test's may have ended meanwhile).
    expect(timeouts()).toBeLessThanOrEqual(base)
  })

  it('times out without a reply and closes promptly', async () => {
    const srv = await udpServer(() => {})
    const c = connect(srv.url)
    await expect(c.request(1, 'x', { timeoutMs: 10 })).rejects.toMatchObject({ code: 'ENET_ERR_REQUEST_TIMEOUT' })
    await c.close()
    expect(c.connected).toBe(false)
    expect(c.localPort).toBeUndefined()
  })
})
