// WebSocket peers for tests: a `ws` socket that records how it was closed,
// and a raw handshake over net for bytes no well-behaved client sends.
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import WebSocket from 'ws'
import { tlvBE } from '../../core/wire/codec.ts'

export interface WsPeer {
  ws: WebSocket
  /** Binary messages received, decoded as TLV frames. */
  frames: Array<{ msgId: number; text: string }>
  /** Resolves with the close code and reason the server sent. */
  closed: Promise<{ code: number; reason: string }>
}

/** Opens and resolves once the upgrade is done; rejects with the HTTP status of a refused upgrade. */
export function wsPeer(url: string): Promise<WsPeer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false })
    const frames: WsPeer['frames'] = []
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })))
    ws.on('message', (data: Buffer) => frames.push({ msgId: data.readUInt32BE(0), text: data.subarray(8).toString() }))
    ws.on('error', () => {})
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    ws.once('open', () => resolve({ ws, frames, closed }))
  })
}

export function frame(msgId: number, data: string | Buffer = ''): Buffer {
  return tlvBE.encode(msgId, Buffer.from(data))
}

/** A socket past the WebSocket handshake; the test writes WebSocket frames itself. */
export function rawWs(port: number, path = '/'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' })
    s.on('error', reject)
    s.once('connect', () =>
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`),
    )
    let head = ''
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      s.off('data', onData)
      if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(head.split('\r\n')[0]))
      resolve(s)
    }
    s.on('data', onData)
  })
}

/** One client WebSocket frame header (masked with a zero key, as RFC 6455 allows) for `len` payload bytes. */
export function wsHeader(len: number, opcode = 2, fin = true): Buffer {
  const first = (fin ? 0x80 : 0) | opcode
  if (len < 126) return Buffer.from([first, 0x80 | len, 0, 0, 0, 0])
  if (len < 65536) return Buffer.from([first, 0x80 | 126, len >> 8, len & 255, 0, 0, 0, 0])
  const b = Buffer.alloc(14)
  b[0] = first
  b[1] = 0x80 | 127
  b.writeBigUInt64BE(BigInt(len), 2)
  return b
}
