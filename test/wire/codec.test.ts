import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { enetDatagram, ltvLE, tlvBE, tlvDatagram, toBuffer, type FrameCodec } from '../../core/wire/codec.ts'
import { EnetError } from '../../core/errors.ts'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const ADDR = Buffer.from('127.0.0.1:12345')
const ADDR_HEX = '31 32 37 2e 30 2e 30 2e 31 3a 31 32 33 34 35'

interface Frame {
  msgId: number
  data: Buffer
}

/** Feeds chunks the way a socket does: push, then drain (or take only `takes[i]` frames). */
function decodeChunks(codec: FrameCodec, chunks: Buffer[], max = 1 << 20, takes?: number[]): Frame[] {
  const d = codec.createDecoder(max)
  const out: Frame[] = []
  chunks.forEach((chunk, i) => {
    d.push(chunk)
    let budget = takes?.[i] ?? Infinity
    while (budget-- > 0 && d.next()) out.push({ msgId: d.msgId, data: Buffer.from(d.data) })
  })
  while (d.next()) out.push({ msgId: d.msgId, data: Buffer.from(d.data) })
  expect(d.pending).toBe(0)
  return out
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts)].filter((c) => c > 0 && c < buf.length).sort((a, b) => a - b)
  const chunks: Buffer[] = []
  let prev = 0
  for (const p of [...points, buf.length]) {
    chunks.push(buf.subarray(prev, p))
    prev = p
  }
  return chunks
}

const frameArb = fc.record({
  msgId: fc.integer({ min: 0, max: 0xffffffff }),
  data: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
})
const framesArb = fc.array(frameArb, { maxLength: 8 })
const encodeAll = (codec: FrameCodec, frames: Frame[]) => Buffer.concat(frames.map((f) => codec.encode(f.msgId, f.data)))

describe('golden vectors (SPEC §2)', () => {
  it('msgId 10 "127.0.0.1:12345"', () => {
    expect(tlvBE.encode(10, ADDR)).toEqual(hex(`00 00 00 0a 00 00 00 0f ${ADDR_HEX}`))
    expect(ltvLE.encode(10, ADDR)).toEqual(hex(`0f 00 00 00 0a 00 00 00 ${ADDR_HEX}`))
    expect(enetDatagram.encode(10, ADDR)).toEqual(hex(`00 00 00 0a ${ADDR_HEX}`))
    expect(tlvDatagram.encode(10, ADDR)).toEqual(hex(`00 00 00 0a 00 00 00 0f ${ADDR_HEX}`))
  })

  it('msgId 11 empty', () => {
    expect(tlvBE.encode(11, Buffer.alloc(0))).toEqual(hex('00 00 00 0b 00 00 00 00'))
    expect(enetDatagram.encode(11, Buffer.alloc(0))).toEqual(hex('00 00 00 0b'))
  })

  it('decodes the golden frames back', () => {
    expect(decodeChunks(tlvBE, [hex(`00 00 00 0a 00 00 00 0f ${ADDR_HEX} 00 00 00 0b 00 00 00 00`)])).toEqual([
      { msgId: 10, data: ADDR },
      { msgId: 11, data: Buffer.alloc(0) },
    ])
    expect(decodeChunks(ltvLE, [hex(`0f 00 00 00 0a 00 00 00 ${ADDR_HEX}`)])).toEqual([{ msgId: 10, data: ADDR }])
  })
})

describe.each([tlvBE, ltvLE])('$name stream decoder', (codec) => {
  it('round-trips frames under random split points', () => {
    fc.assert(
      fc.property(framesArb, fc.array(fc.nat({ max: 400 }), { maxLength: 30 }), (frames, cuts) => {
        expect(decodeChunks(codec, splitAt(encodeAll(codec, frames), cuts))).toEqual(frames)
      }),
      { numRuns: 300 },
    )
  })

  it('round-trips frames in 1-byte chunks and all in one chunk', () => {
    fc.assert(
      fc.property(framesArb, (frames) => {
        const stream = encodeAll(codec, frames)
        const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1))
        expect(decodeChunks(codec, bytes)).toEqual(frames)
        expect(decodeChunks(codec, [stream])).toEqual(frames)
      }),
      { numRuns: 100 },
    )
  })

  it('round-trips when the reader stops early and pushes more (backpressure)', () => {
    fc.assert(
      fc.property(
        framesArb,
        fc.array(fc.nat({ max: 400 }), { maxLength: 30 }),
        fc.array(fc.nat({ max: 2 }), { maxLength: 30 }),
        (frames, cuts, takes) => {
          expect(decodeChunks(codec, splitAt(encodeAll(codec, frames), cuts), 1 << 20, takes)).toEqual(frames)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('decodes under every one of the 2^16 ways to split a 17-byte stream', () => {
    const frames = [
      { msgId: 0x01020304, data: Buffer.from([0xff]) },
      { msgId: 7, data: Buffer.alloc(0) },
    ]
    const stream = encodeAll(codec, frames)
    expect(stream.length).toBe(17)
    for (let mask = 0; mask < 1 << 16; mask++) {
      const chunks: Buffer[] = []
      let prev = 0
      for (let i = 1; i < 17; i++) {
        if (mask & (1 << (i - 1))) {
          chunks.push(stream.subarray(prev, i))
          prev = i
        }
      }
      chunks.push(stream.subarray(prev))
      const d = codec.createDecoder(16)
      const got: number[] = []
      for (const c of chunks) {
        d.push(c)
        while (d.next()) got.push(d.msgId, d.data.length)
      }
      if (got.join() !== '16909060,1,7,0' || d.pending !== 0) throw new Error(`split mask ${mask}: ${got}`)
    }
  })

  it('a read that completes a frame begun in an earlier one copies only that frame: what follows is decoded as views of the read', () => {
    const big = Buffer.alloc(3000, 7)
    const stream = encodeAll(codec, [
      { msgId: 1, data: big },
      { msgId: 2, data: Buffer.from('second') },
      { msgId: 3, data: Buffer.from('third') },
    ])
    for (const cut of [3, 8, 1000]) {
      const d = codec.createDecoder(1 << 16)
      d.push(stream.subarray(0, cut))
      expect(d.next()).toBe(false)
      // A read of its own memory, as a socket's is (not from Buffer's shared pool).
      const read = Buffer.allocUnsafeSlow(stream.length - cut)
      stream.copy(read, 0, cut)
      d.push(read)
      expect(d.next()).toBe(true)
      expect([d.msgId, d.data.equals(big), d.data.buffer === read.buffer]).toEqual([1, true, false])
      expect(d.next()).toBe(true)
      expect([d.msgId, d.data.toString(), d.data.buffer === read.buffer]).toEqual([2, 'second', true])
      expect(d.next()).toBe(true)
      expect([d.msgId, d.data.toString(), d.data.buffer === read.buffer]).toEqual([3, 'third', true])
      expect([d.next(), d.pending]).toEqual([false, 0])
    }
  })

  it('rejects a declared length above maxPacketSize once the header is in, before the body', () => {
    const header = codec.encode(5, Buffer.alloc(101)).subarray(0, 8)
    const d = codec.createDecoder(100)
    d.push(header.subarray(0, 5))
    expect(d.next()).toBe(false)
    d.push(header.subarray(5))
    const err = (() => {
      try {
        d.next()
      } catch (e) {
        return e
      }
    })()
    expect(err).toBeInstanceOf(EnetError)
    expect((err as EnetError).code).toBe('ENET_ERR_FRAME_TOO_LARGE')
  })

  it('rejects a huge length fed byte by byte at the eighth byte', () => {
    const header = codec.encode(5, Buffer.alloc(0))
    header.writeUInt32BE(0xffffffff, 4)
    header.writeUInt32BE(0xffffffff, 0)
    const d = codec.createDecoder(4096)
    for (let i = 0; i < 7; i++) {
      d.push(header.subarray(i, i + 1))
      expect(d.next()).toBe(false)
    }
    d.push(header.subarray(7))
    expect(() => d.next()).toThrow(expect.objectContaining({ code: 'ENET_ERR_FRAME_TOO_LARGE' }))
  })

  it('accepts a frame of exactly maxPacketSize', () => {
    expect(decodeChunks(codec, [codec.encode(1, Buffer.alloc(100, 1))], 100)).toEqual([
      { msgId: 1, data: Buffer.alloc(100, 1) },
    ])
  })

  it('reports buffered bytes of an incomplete frame in pending', () => {
    const frame = codec.encode(3, Buffer.from('hello world'))
    const d = codec.createDecoder(1024)
    expect(d.pending).toBe(0)
    d.push(frame.subarray(0, 3))
    expect(d.next()).toBe(false)
    expect(d.pending).toBe(3)
    d.push(frame.subarray(3, 12))
    expect(d.next()).toBe(false)
    expect(d.pending).toBe(12)
    d.push(Buffer.concat([frame.subarray(12), frame.subarray(0, 2)]))
    expect(d.next()).toBe(true)
    expect(d.data.toString()).toBe('hello world')
    expect(d.next()).toBe(false)
    expect(d.pending).toBe(2)
  })

  it('holds no view of a read it has used up; the frame handed out keeps its bytes', () => {
    const d = codec.createDecoder(1024)
    d.push(Buffer.concat([codec.encode(1, Buffer.from('one')), codec.encode(2, Buffer.from('two'))]))
    expect(d.next()).toBe(true)
    const first = d.data
    expect(d.next()).toBe(true)
    const second = d.data
    expect(d.next()).toBe(false)
    // An idle connection's decoder keeps nothing of its last read alive.
    expect(d.data.length).toBe(0)
    expect(d.pending).toBe(0)
    expect([first.toString(), second.toString()]).toEqual(['one', 'two'])
  })
})

describe('datagram codecs', () => {
  const out = { msgId: -1, data: Buffer.alloc(0) }

  it('enet: the datagram length is the frame length', () => {
    expect(enetDatagram.headerSize).toBe(4)
    expect(enetDatagram.decode(hex(`00 00 00 0a ${ADDR_HEX}`), out)).toBe(true)
    expect(out).toEqual({ msgId: 10, data: ADDR })
    expect(enetDatagram.decode(hex('00 00 00 0b'), out)).toBe(true)
    expect(out).toEqual({ msgId: 11, data: Buffer.alloc(0) })
  })

  it('enet round-trips any message', () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        expect(enetDatagram.decode(enetDatagram.encode(f.msgId, f.data), out)).toBe(true)
        expect(out).toEqual(f)
      }),
    )
  })

  it('tlv-be datagram accepts an honest length and rejects a lying one', () => {
    expect(tlvDatagram.headerSize).toBe(8)
    const good = tlvDatagram.encode(10, ADDR)
    expect(tlvDatagram.decode(good, out)).toBe(true)
    expect(out).toEqual({ msgId: 10, data: ADDR })
    const short = Buffer.from(good)
    short.writeUInt32BE(14, 4)
    const long = Buffer.from(good)
    long.writeUInt32BE(16, 4)
    expect(tlvDatagram.decode(short, out)).toBe(false)
    expect(tlvDatagram.decode(long, out)).toBe(false)
    expect(tlvDatagram.decode(good.subarray(0, 12), out)).toBe(false)
  })
})

describe('toBuffer', () => {
  it('accepts strings, Buffers and Uint8Array views without copying views', () => {
    expect(toBuffer(undefined)).toEqual(Buffer.alloc(0))
    expect(toBuffer('没有找到')).toEqual(Buffer.from('没有找到', 'utf8'))
    const b = Buffer.from('abc')
    expect(toBuffer(b)).toBe(b)
    const backing = new Uint8Array([1, 2, 3, 4, 5])
    const view = toBuffer(backing.subarray(1, 4))
    expect(view).toEqual(Buffer.from([2, 3, 4]))
    backing[2] = 9
    expect(view[1]).toBe(9)
  })
})
