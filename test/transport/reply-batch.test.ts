// TCP: the replies a connection writes while handling one read leave in one
// socket.write (core/transport/reply-batch.ts), in order, each as it was at
// reply() time; a graceful close sends what was gathered; codecs without
// encodeInto and batches past the size cap still work.
import type net from 'node:net'
import { describe, expect, it } from 'vitest'
import { tlvBE, type FrameCodec } from '../../core/wire/codec.ts'
import type { Request } from '../../core/types.ts'
import { replyBatch } from '../../core/transport/reply-batch.ts'
import { useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()
const echo = (req: Request) => void req.reply(req.msgId, req.data)

/** Counts the server-side socket.write calls of each connection. */
function countWrites(server: { hooks: { onConnStart: { tap(name: string, fn: (c: unknown) => void): void } } }): number[] {
  const writes: number[] = []
  server.hooks.onConnStart.tap('test', (conn) => {
    const socket = (conn as { socket: net.Socket }).socket
    const i = writes.push(0) - 1
    const write = socket.write.bind(socket) as (...a: unknown[]) => boolean
    socket.write = ((...a: unknown[]) => {
      writes[i]!++
      return write(...a)
    }) as typeof socket.write
  })
  return writes
}

function frames(codec: FrameCodec, n: number, msgId = 1): Buffer {
  return Buffer.concat(Array.from({ length: n }, (_, i) => codec.encode(msgId, Buffer.from(`m${i}`))))
}

describe('replies of one read', () => {
  it('16 requests in one read get 16 replies in one socket.write, in order', async () => {
    let writes!: number[]
    const { tcpPort } = await h.start({}, (s) => {
      s.route(1, echo)
      writes = countWrites(s)
    })
    const c = await h.tcp(tcpPort)
    await c.request(1, 'warm')
    const before = writes[0]!
    c.write(frames(tlvBE, 16))
    const got = await c.waitFrames(17)
    expect(got.slice(1).map((f) => f.text)).toEqual(Array.from({ length: 16 }, (_, i) => `m${i}`))
    expect(writes[0]! - before).toBe(1)
  })

  it('a handler that reuses its buffer: each reply carries what it held at reply() time', async () => {
    const { tcpPort } = await h.start({}, (s) => {
      const shared = Buffer.alloc(4)
      s.route(2, (req) => {
        for (let i = 0; i < 5; i++) {
          shared.writeUInt32BE(i)
          req.reply(2, shared)
        }
      })
    })
    const c = await h.tcp(tcpPort)
    c.send(2)
    const got = await c.waitFrames(5)
    expect(got.map((f) => f.data.readUInt32BE(0))).toEqual([0, 1, 2, 3, 4])
  })

  it('a graceful close from a handler still sends the replies gathered before it', async () => {
    const { tcpPort } = await h.start({}, (s) => {
      s.route(3, (req) => {
        req.reply(3, 'first')
        req.reply(3, 'last words')
        req.conn.close('kicked')
        // After close nothing more is sent.
        expect(req.reply(3, 'never')).toBe(false)
      })
    })
    const c = await h.tcp(tcpPort)
    c.send(3)
    await c.waitClosed()
    expect(c.frames.map((f) => f.text)).toEqual(['first', 'last words'])
  })

  it('a user codec with only encode() is gathered too (one write per read)', async () => {
    // A 2-byte length + 1-byte msgId framer, no encodeInto/frameLength.
    const tiny: FrameCodec = {
      name: 'tiny',
      encode(msgId, data) {
        const out = Buffer.alloc(3 + data.length)
        out.writeUInt16BE(data.length, 0)
        out[2] = msgId
        data.copy(out, 3)
        return out
      },
      createDecoder: tlvBE.createDecoder,
    }
    let writes!: number[]
    const { tcpPort } = await h.start({ tcp: { codec: tiny } }, (s) => {
      s.route(1, (req) => {
        req.reply(1, req.data)
        req.reply(1, req.data)
      })
      writes = countWrites(s)
    })
    // This client reads raw bytes: its decoder never finds a frame.
    const raw: FrameCodec = { ...tlvBE, createDecoder: () => ({ ...tlvBE.createDecoder(0), push() {}, next: () => false }) }
    const c = await h.tcp(tcpPort, { codec: raw })
    const want = Buffer.concat(Array.from({ length: 3 }, (_, i) => [tiny.encode(1, Buffer.from(`m${i}`)), tiny.encode(1, Buffer.from(`m${i}`))]).flat())
    const chunks: Buffer[] = []
    const all = new Promise<void>((resolve) =>
      c.socket.on('data', (d: Buffer) => {
        chunks.push(d)
        if (Buffer.concat(chunks).length >= want.length) resolve()
      }),
    )
    // The server decodes tlv-be and answers in the tiny framing.
    c.write(frames(tlvBE, 3))
    await all
    expect(Buffer.concat(chunks).equals(want)).toBe(true)
    expect(writes[0]).toBe(1)
  })

  it('a read whose replies pass the 256 KiB cap is written in several parts, in order', async () => {
    const { tcpPort } = await h.start({ limits: { maxPacketSize: 1 << 20 } }, (s) => {
      s.route(4, (req) => {
        for (let i = 0; i < 12; i++) req.reply(4, Buffer.alloc(50_000, i))
      })
    })
    const c = await h.tcp(tcpPort, { maxPacketSize: 1 << 20 })
    c.send(4)
    const got = await c.waitFrames(12)
    expect(got.map((f) => [f.data.length, f.data[0], f.data[49_999]])).toEqual(Array.from({ length: 12 }, (_, i) => [50_000, i, i]))
  })
})

describe('the scratch buffer and what a socket holds of it', () => {
  /** A socket stand-in: `keeps` bytes of each write stay queued (the kernel took the rest). */
  function sink(keeps: (len: number) => number) {
    const writes: Buffer[] = []
    let queued = 0
    return {
      writes,
      get writableLength() {
        return queued
      },
      write(chunk: Buffer) {
        writes.push(chunk)
        queued += keeps(chunk.length)
      },
      drained() {
        queued = 0
      },
    }
  }
  const gather = (s: ReturnType<typeof sink>, n: number, size: number) => {
    for (let i = 0; i < n; i++) replyBatch.add(s, tlvBE, 1, Buffer.alloc(size, i))
  }

  it('a socket that takes every byte gets the scratch itself each time: no copy, nothing held', () => {
    const s = sink(() => 0)
    gather(s, 10, 4096)
    expect(replyBatch.flush(s)).toBe(0)
    gather(s, 3, 100)
    expect(replyBatch.flush(s)).toBe(0)
    expect(s.writes.map((w) => w.length)).toEqual([10 * 4104, 3 * 108])
    expect(s.writes[1]!.buffer).toBe(s.writes[0]!.buffer)
  })

  it('a socket that keeps part of a write holds the whole scratch: flush says how much beyond the bytes, and the next batch has a scratch of its own', () => {
    const s = sink((len) => len)
    gather(s, 2, 1000)
    const held = replyBatch.flush(s)
    const first = s.writes[0]!
    expect(held).toBe(first.buffer.byteLength - 2 * 1008)
    expect(held).toBeGreaterThan(0)
    // Behind queued bytes: a copy of exactly what was gathered.
    gather(s, 1, 10)
    expect(replyBatch.flush(s)).toBe(0)
    expect(s.writes[1]!.length).toBe(18)
    expect(s.writes[1]!.buffer).not.toBe(first.buffer)
    s.drained()
    gather(s, 1, 10)
    replyBatch.flush(s)
    expect(s.writes[2]!.buffer).not.toBe(first.buffer)
    expect(s.writes[2]!.buffer.byteLength).toBe(first.buffer.byteLength)
  })

  it("a connection's unsent bytes count the scratch its socket holds, until the socket's queue is empty", async () => {
    let conn!: { unsent: number; socket: net.Socket }
    // A budget far above what the burst below queues: this is about counting, not the slow-consumer close.
    const { tcpPort } = await h.start({ limits: { maxPacketSize: 1 << 20, maxOutboundBytes: 256 << 20 } }, (s) => {
      s.route(5, (req) => {
        for (let i = 0; i < 40; i++) req.reply(5, Buffer.alloc(4000, i))
      })
      s.hooks.onConnStart.tap('test', (c) => void (conn = c as unknown as typeof conn))
    })
    const c = await h.tcp(tcpPort, { maxPacketSize: 1 << 20 })
    c.send(5)
    await c.waitFrames(40)
    // A client that stops reading, then asks for 64 × 160 KB in one write: far more than the loopback
    // buffers hold, so the socket keeps what the kernel does not take.
    c.socket.pause()
    c.write(Buffer.concat(Array.from({ length: 64 }, () => tlvBE.encode(5, Buffer.alloc(0)))))
    await until(() => conn.socket.writableLength > 0)
    // The first write the kernel did not take whole found the queue empty: it was the scratch itself.
    expect(conn.unsent).toBeGreaterThan(conn.socket.writableLength)
    c.socket.resume()
    await until(() => conn.socket.writableLength === 0)
    expect(conn.unsent).toBe(0)
  })
})
