// The replies a TCP connection writes while it handles one read, gathered
// into one buffer and written with one socket.write.
//
// Measured (bench/, TCP 64 conns x 16 in flight x 64 B, compiled core): with a
// socket.write per reply under cork, writev and the write queue's object per
// chunk took about half of the server's CPU, and the per-reply buffers fed
// the GC. Plain Node's echo writes once per read; so does this.
//
// One batch serves every connection: a read is handled synchronously, so only
// one connection gathers at a time (a nested one, a handler replying on
// another connection, writes directly). Replies are encoded into `scratch` at
// reply() time, so a handler may reuse its buffer at once, as before.
//
// Memory: the scratch is handed to the socket only when it is at least half
// full and the socket has nothing queued; should the kernel not take it all,
// the socket keeps it and the next batch starts a new one. Every other flush
// writes a copy of exactly the gathered bytes, so what a slow peer pins is at
// most twice what the outbound budget counts.
import type { FrameCodec } from '../wire/codec.ts'

const INITIAL = 16 * 1024
/** A batch never grows past this; more replies in one read flush on the way. */
const MAX = 256 * 1024

export interface BatchSink {
  write(chunk: Buffer): unknown
  readonly writableLength: number
}

class ReplyBatch {
  owner: object | null = null
  /** Bytes gathered for `owner`. */
  bytes = 0
  private scratch: Buffer = Buffer.allocUnsafeSlow(INITIAL)

  add(sink: BatchSink, codec: FrameCodec, msgId: number, data: Buffer): void {
    const direct = codec.encodeInto === undefined || codec.frameLength === undefined
    const frame = direct ? codec.encode(msgId, data) : undefined
    const len = frame !== undefined ? frame.length : codec.frameLength!(data.length)
    if (this.bytes + len > this.scratch.length) {
      if (this.bytes + len > MAX) {
        this.flush(sink)
        if (len > MAX) {
          sink.write(frame ?? codec.encode(msgId, data))
          return
        }
      }
      if (len > this.scratch.length - this.bytes) this.grow(this.bytes + len)
    }
    if (frame !== undefined) frame.copy(this.scratch, this.bytes)
    else codec.encodeInto!(this.scratch, this.bytes, msgId, data)
    this.bytes += len
  }

  private grow(need: number): void {
    let size = this.scratch.length * 2
    while (size < need) size *= 2
    const next = Buffer.allocUnsafeSlow(Math.min(size, MAX))
    this.scratch.copy(next, 0, 0, this.bytes)
    this.scratch = next
  }

  flush(sink: BatchSink): void {
    const n = this.bytes
    if (n === 0) return
    this.bytes = 0
    const scratch = this.scratch
    if (n * 2 >= scratch.length && sink.writableLength === 0) {
      sink.write(scratch.subarray(0, n))
      // Not all taken by the kernel: the socket holds the scratch now.
      if (sink.writableLength > 0) this.scratch = Buffer.allocUnsafeSlow(INITIAL)
      return
    }
    const out = Buffer.allocUnsafe(n)
    scratch.copy(out, 0, 0, n)
    sink.write(out)
  }

  /** The connection closed without a graceful end: what it gathered is not sent. */
  discard(): void {
    this.bytes = 0
  }
}

export const replyBatch = new ReplyBatch()
