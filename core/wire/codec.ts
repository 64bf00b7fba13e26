// Frame codecs. TCP: a header with msgId and data length, decoded from a
// byte stream split anywhere. UDP: one message per datagram.
import { EnetError } from '../errors.ts'
import type { Payload } from '../types.ts'

/**
 * A streaming decoder. `push` hands it a chunk; `next()` returns true while
 * a whole frame is ready, leaving it in `msgId` and `data`. Fields instead of
 * a returned object: no allocation per frame on the hot path.
 */
export interface FrameDecoder {
  msgId: number
  data: Buffer
  push(chunk: Buffer): void
  /** Throws EnetError ENET_ERR_FRAME_TOO_LARGE / ENET_ERR_BAD_FRAME on bad input. */
  next(): boolean
  /** Bytes held of a frame not yet complete. */
  readonly pending: number
  /** The largest data length accepted; the server lowers or raises it on a live config change. */
  maxPacketSize: number
}

export interface FrameCodec {
  readonly name: string
  encode(msgId: number, data: Buffer): Buffer
  /**
   * Optional: the frame's size for `data`, and writing it into `target` at
   * `offset` (there is room). With both, a TCP connection gathers the
   * replies of one read into one buffer without a buffer per reply.
   */
  frameLength?(dataLength: number): number
  encodeInto?(target: Buffer, offset: number, msgId: number, data: Buffer): void
  createDecoder(maxPacketSize: number): FrameDecoder
}

export interface DatagramCodec {
  readonly name: string
  /** Bytes before the data; a datagram shorter than this is dropped. */
  readonly headerSize: number
  encode(msgId: number, data: Buffer): Buffer
  /** Returns false when the datagram is not a message (a frame length that lies, say). */
  decode(datagram: Buffer, out: { msgId: number; data: Buffer }): boolean
}

const EMPTY = Buffer.alloc(0)

export function toBuffer(data: Payload | undefined): Buffer {
  if (data === undefined) return EMPTY
  if (typeof data === 'string') return Buffer.from(data, 'utf8')
  if (Buffer.isBuffer(data)) return data
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/** An 8-byte header of msgId and length, in a given order and endianness. */
interface HeaderLayout {
  name: string
  idAt: 0 | 4
  lenAt: 0 | 4
  le: boolean
  read(b: Buffer, at: number): number
}

const TLV_BE: HeaderLayout = { name: 'tlv-be', idAt: 0, lenAt: 4, le: false, read: (b, at) => b.readUInt32BE(at) }
const LTV_LE: HeaderLayout = { name: 'ltv-le', idAt: 4, lenAt: 0, le: true, read: (b, at) => b.readUInt32LE(at) }
const HEADER = 8

function headerCodec(h: HeaderLayout): FrameCodec {
  const write = h.le
    ? (b: Buffer, v: number, at: number) => b.writeUInt32LE(v, at)
    : (b: Buffer, v: number, at: number) => b.writeUInt32BE(v, at)
  const encodeInto = (out: Buffer, at: number, msgId: number, data: Buffer) => {
    write(out, msgId, at + h.idAt)
    write(out, data.length, at + h.lenAt)
    data.copy(out, at + HEADER)
  }
  return {
    name: h.name,
    encode(msgId, data) {
      // One buffer per frame: allocUnsafe draws small frames from Node's pool,
      // and a single write beats a header+body writev below ~16 KiB (bench/).
      const out = Buffer.allocUnsafe(HEADER + data.length)
      encodeInto(out, 0, msgId, data)
      return out
    },
    frameLength: (n) => HEADER + n,
    encodeInto,
    createDecoder: (max) => new HeaderDecoder(h, max),
  }
}

class HeaderDecoder implements FrameDecoder {
  msgId = 0
  data: Buffer = EMPTY
  private buf: Buffer = EMPTY
  private off = 0
  // Chunks of an incomplete frame wait here and are joined once, when the
  // frame is whole, so a frame trickled in byte by byte costs O(n), not O(n²).
  // Made by the first partial frame: most connections never see one.
  private parts: Buffer[] | null = null
  private partsLen = 0
  private need = 0
  // The chunk that completed a parked frame: only that frame is joined
  // (copied); what follows it is decoded from this chunk, as views. Joining
  // the whole chunk copied every read of 4 KiB frames, whose reads end
  // mid-frame (bench/: the copies and their garbage were a fifth of the
  // server's CPU).
  private rest: Buffer = EMPTY
  private restOff = 0

  // The layout carries its read function: one field less per connection.
  constructor(
    private readonly h: HeaderLayout,
    public maxPacketSize: number,
  ) {}

  get pending(): number {
    return this.buf.length - this.off + (this.rest.length - this.restOff) + this.partsLen
  }

  push(chunk: Buffer): void {
    if (this.rest !== EMPTY || this.off < this.buf.length) {
      // Leftover bytes of a read paused by backpressure: keep them all (rare: a copy).
      this.buf = Buffer.concat([this.buf.subarray(this.off), this.rest.subarray(this.restOff), chunk])
      this.off = 0
      this.rest = EMPTY
      this.restOff = 0
    } else if (this.partsLen > 0) {
      const parts = this.parts!
      parts.push(chunk)
      const have = this.partsLen + chunk.length
      if (this.need === HEADER && have >= HEADER) {
        // The header is in: wait for the whole frame, unless it is refused (next() says why).
        const len = this.h.read(Buffer.concat(parts, HEADER), this.h.lenAt)
        this.need = len > this.maxPacketSize ? HEADER : HEADER + len
      }
      if (have < this.need) {
        this.partsLen = have
        return
      }
      // Buffer.concat copies only the first `need` bytes: the parked frame.
      this.buf = Buffer.concat(parts, this.need)
      this.off = 0
      this.rest = chunk
      this.restOff = chunk.length - (have - this.need)
      this.parts = null
      this.partsLen = 0
    } else {
      this.buf = chunk
      this.off = 0
    }
  }

  next(): boolean {
    if (this.off === this.buf.length && this.rest !== EMPTY) {
      this.buf = this.rest
      this.off = this.restOff
      this.rest = EMPTY
      this.restOff = 0
    }
    const buf = this.buf
    const off = this.off
    const avail = buf.length - off
    if (avail < HEADER) return this.park(HEADER)
    const len = this.h.read(buf, off + this.h.lenAt)
    if (len > this.maxPacketSize) throw new EnetError('ENET_ERR_FRAME_TOO_LARGE', [len, this.maxPacketSize])
    if (avail < HEADER + len) return this.park(HEADER + len)
    this.msgId = this.h.read(buf, off + this.h.idAt)
    // A view, not a copy: each socket read is a fresh Buffer, so a handler
    // may keep `data` without it being overwritten.
    this.data = buf.subarray(off + HEADER, off + HEADER + len)
    this.off = off + HEADER + len
    return true
  }

  private park(need: number): false {
    if (this.off < this.buf.length) {
      ;(this.parts ??= []).push(this.off === 0 ? this.buf : this.buf.subarray(this.off))
      this.partsLen = this.buf.length - this.off
      this.need = need
    }
    if (this.rest !== EMPTY) {
      // Only after a joined header whose frame became acceptable (maxPacketSize raised): its body follows in `rest`.
      ;(this.parts ??= []).push(this.rest.subarray(this.restOff))
      this.partsLen += this.rest.length - this.restOff
      this.rest = EMPTY
      this.restOff = 0
    }
    this.buf = EMPTY
    this.off = 0
    // The last frame's view held its whole socket read: an idle connection
    // kept 184 heap bytes and the read's memory for it (bench/ accept).
    this.data = EMPTY
    return false
  }
}

export const tlvBE: FrameCodec = headerCodec(TLV_BE)
export const ltvLE: FrameCodec = headerCodec(LTV_LE)

/** Go enet's UDP: `[msgId u32 BE][data]`, the datagram's length is the frame's. */
export const enetDatagram: DatagramCodec = {
  name: 'enet',
  headerSize: 4,
  encode(msgId, data) {
    const out = Buffer.allocUnsafe(4 + data.length)
    out.writeUInt32BE(msgId, 0)
    data.copy(out, 4)
    return out
  },
  decode(d, out) {
    out.msgId = d.readUInt32BE(0)
    out.data = d.subarray(4)
    return true
  },
}

/** One whole TLV frame per datagram; the declared length must match. */
export const tlvDatagram: DatagramCodec = {
  name: 'tlv-be',
  headerSize: 8,
  encode: (msgId, data) => tlvBE.encode(msgId, data),
  decode(d, out) {
    const len = d.readUInt32BE(4)
    if (len !== d.length - 8) return false
    out.msgId = d.readUInt32BE(0)
    out.data = d.subarray(8)
    return true
  },
}

export const frameCodecs: Record<string, FrameCodec> = { 'tlv-be': tlvBE, 'ltv-le': ltvLE }
export const datagramCodecs: Record<string, DatagramCodec> = { enet: enetDatagram, 'tlv-be': tlvDatagram }

export function frameCodec(ref: string | FrameCodec): FrameCodec {
  return typeof ref === 'string' ? frameCodecs[ref]! : ref
}

export function datagramCodec(ref: string | DatagramCodec): DatagramCodec {
  return typeof ref === 'string' ? datagramCodecs[ref]! : ref
}

export function assertMsgId(msgId: unknown): asserts msgId is number {
  if (typeof msgId !== 'number' || !Number.isInteger(msgId) || msgId < 0 || msgId > 0xffffffff) {
    throw new EnetError('ENET_ERR_MSGID_INVALID', [JSON.stringify(msgId)])
  }
}
