// enet's browser client: connect('ws://host:port/path') with the Node
// client's send / request / on('message') API, over the browser's WebSocket.
// Each frame is one binary message: [msgId u32 BE][length u32 BE][data], the
// server's tlv-be. Plain ESM with no imports and no build step: serve this
// file and `import { connect } from './browser.js'`. Types: browser.d.ts.
//
// Replies carry no correlation id on the wire (zinx, Go enet), so a request
// is answered by the first later message with its reply id, oldest first.

const HEADER = 8
const MAX_MSGID = 0xffffffff
const MiB = 1024 * 1024
const encoder = new TextEncoder()
/** zinx's HeartBeatDefaultMsgID (core/wire/heartbeat.ts). */
const ZINX_PING_MSGID = 99999
const decoder = new TextDecoder()

export class EnetError extends Error {
  constructor(code, message) {
    super(message)
    this.name = 'EnetError'
    this.code = code
  }
}

function toBytes(data) {
  if (data === undefined || data === null) return new Uint8Array(0)
  if (typeof data === 'string') return encoder.encode(data)
  if (data instanceof Uint8Array) return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  throw new TypeError(`data must be a string, Uint8Array or ArrayBuffer, got ${typeof data}`)
}

function assertMsgId(msgId) {
  if (!Number.isInteger(msgId) || msgId < 0 || msgId > MAX_MSGID) {
    throw new EnetError('ENET_ERR_MSGID_INVALID', `msgId must be an integer from 0 to ${MAX_MSGID}, got ${JSON.stringify(msgId)}`)
  }
}

/** One tlv-be frame. */
export function encode(msgId, data) {
  assertMsgId(msgId)
  const body = toBytes(data)
  const out = new Uint8Array(HEADER + body.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, msgId)
  view.setUint32(4, body.length)
  out.set(body, HEADER)
  return out
}

/** The frame in one binary message; throws when it is not exactly one whole frame. */
export function decode(buffer, maxPacketSize = MiB) {
  const view = new DataView(buffer)
  if (buffer.byteLength < HEADER) throw new EnetError('ENET_ERR_BAD_FRAME', `bad frame: ${buffer.byteLength} bytes, shorter than the header`)
  const len = view.getUint32(4)
  if (len > maxPacketSize) throw new EnetError('ENET_ERR_FRAME_TOO_LARGE', `frame declares ${len} data bytes, more than maxPacketSize ${maxPacketSize}`)
  if (len !== buffer.byteLength - HEADER) throw new EnetError('ENET_ERR_BAD_FRAME', `bad frame: declares ${len} data bytes in a message of ${buffer.byteLength}`)
  return message(view.getUint32(0), new Uint8Array(buffer, HEADER, len))
}

function message(msgId, data) {
  return { msgId, data, text: () => decoder.decode(data) }
}

class Client {
  #url
  #opts
  #ws = null
  #listeners = new Map()
  /** replyId → requests waiting, oldest first. */
  #waiting = new Map()
  /** Frames sent while not connected. */
  #queue = []
  #queuedBytes = 0
  #readyWaiters = []
  #ended = null
  #conns = 0
  #attempt = 0
  #up = false
  #upSince = 0
  #timer = undefined
  #closing = null
  connected = false

  constructor(url, opts) {
    if (!/^wss?:\/\//.test(url)) throw new EnetError('ENET_ERR_BAD_URL', `cannot parse address ${JSON.stringify(url)}: expected ws://host:port/path or wss://…`)
    this.#url = url
    const r = opts.reconnect ?? true
    this.#opts = {
      maxPacketSize: opts.maxPacketSize ?? MiB,
      maxQueuedBytes: opts.maxQueuedBytes ?? MiB,
      backoff: r === false ? null : { initialMs: 100, maxMs: 5000, factor: 2, jitter: 0.5, stableMs: 1000, ...(r === true ? {} : r) },
      // The server's heartbeat ping (zinx's msgId 99999) is answered, as the Node client does; false: an ordinary message.
      pingMsgId: opts.heartbeat === false ? -1 : (opts.heartbeat?.pingMsgId ?? ZINX_PING_MSGID),
    }
    this.#dial()
  }

  get url() {
    return this.#url
  }

  get protocol() {
    return 'ws'
  }

  on(event, fn) {
    let set = this.#listeners.get(event)
    if (!set) this.#listeners.set(event, (set = new Set()))
    set.add(fn)
    return this
  }

  off(event, fn) {
    this.#listeners.get(event)?.delete(fn)
    return this
  }

  #emit(event, ...args) {
    for (const fn of this.#listeners.get(event) ?? []) fn(...args)
  }

  ready() {
    if (this.connected) return Promise.resolve()
    if (this.#ended) return Promise.reject(this.#ended)
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }))
  }

  send(msgId, data) {
    this.#sendFrame(msgId, data)
  }

  request(msgId, data, opts = {}) {
    const replyId = opts.replyId ?? msgId
    const timeoutMs = opts.timeoutMs ?? 5000
    let queued
    try {
      assertMsgId(replyId)
      queued = this.#sendFrame(msgId, data)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      const p = { conn: queued ? this.#conns + 1 : this.#conns, replyId, resolve, reject, queued, timer: undefined }
      p.timer = setTimeout(() => this.#timedOut(p, timeoutMs), timeoutMs)
      const list = this.#waiting.get(replyId)
      if (list) list.push(p)
      else this.#waiting.set(replyId, [p])
    })
  }

  close() {
    if (this.#closing) return this.#closing
    this.#ended = new EnetError('ENET_ERR_CLIENT_CLOSED', 'client closed')
    this.#failAll(this.#ended)
    clearTimeout(this.#timer)
    const ws = this.#ws
    this.#closing = new Promise((resolve) => {
      if (!ws || ws.readyState === WebSocket.CLOSED) return resolve()
      ws.addEventListener('close', () => resolve())
      ws.close(1000, 'client-close')
    })
    return this.#closing
  }

  /** Writes the frame, or queues it while down and returns it. */
  #sendFrame(msgId, data) {
    const frame = encode(msgId, data)
    if (this.connected) {
      // A server that stops reading must not grow the page without bound.
      if (this.#ws.bufferedAmount > this.#opts.maxQueuedBytes) {
        throw new EnetError('ENET_ERR_NOT_CONNECTED', `not connected to ${this.#url} (${this.#ws.bufferedAmount} bytes not taken by the server; maxQueuedBytes ${this.#opts.maxQueuedBytes})`)
      }
      this.#ws.send(frame)
      return null
    }
    if (this.#ended) throw this.#ended
    if (this.#queuedBytes + frame.length > this.#opts.maxQueuedBytes) {
      throw new EnetError('ENET_ERR_NOT_CONNECTED', `not connected to ${this.#url} (send queue full at ${this.#opts.maxQueuedBytes} bytes)`)
    }
    this.#queue.push(frame)
    this.#queuedBytes += frame.length
    return frame
  }

  #dial() {
    this.#timer = undefined
    const ws = new WebSocket(this.#url)
    ws.binaryType = 'arraybuffer'
    ws.addEventListener('open', () => this.#opened())
    ws.addEventListener('message', (e) => this.#received(e.data))
    ws.addEventListener('error', () => this.#emit('error', new EnetError('ENET_ERR_NOT_CONNECTED', `not connected to ${this.#url} (WebSocket error)`)))
    ws.addEventListener('close', (e) => this.#down(ws, e))
    this.#ws = ws
  }

  #opened() {
    this.#conns++
    this.#up = true
    this.#upSince = Date.now()
    this.connected = true
    const queue = this.#queue
    this.#queue = []
    this.#queuedBytes = 0
    for (const list of this.#waiting.values()) for (const p of list) p.queued = null
    for (const frame of queue) this.#ws.send(frame)
    for (const w of this.#readyWaiters.splice(0)) w.resolve()
    this.#emit('connect')
  }

  #received(data) {
    if (typeof data === 'string') return this.#protocolError(new EnetError('ENET_ERR_BAD_FRAME', 'bad frame: a text WebSocket message; the server sends binary frames'))
    let m
    try {
      m = decode(data, this.#opts.maxPacketSize)
    } catch (err) {
      return this.#protocolError(err)
    }
    if (m.msgId === this.#opts.pingMsgId) {
      // zinx's heartbeat text; a page does not know its own port, and any frame counts as life.
      if (this.connected) this.#ws.send(encode(m.msgId, `heartbeat [0.0.0.0:0->${new URL(this.#url).host}]`))
      return
    }
    const list = this.#waiting.get(m.msgId)
    if (list) {
      const p = list.shift()
      if (list.length === 0) this.#waiting.delete(m.msgId)
      clearTimeout(p.timer)
      p.resolve(m)
    }
    this.#emit('message', m)
  }

  #protocolError(err) {
    this.#emit('error', err)
    this.connected = false
    this.#ws?.close(err.code === 'ENET_ERR_FRAME_TOO_LARGE' ? 1009 : 1007, err.code === 'ENET_ERR_FRAME_TOO_LARGE' ? 'frame-too-large' : 'bad-frame')
  }

  #down(ws, e) {
    if (ws !== this.#ws) return
    const wasUp = this.#up
    this.#up = false
    this.connected = false
    this.#ws = null
    if (wasUp) this.#emit('disconnect', this.#ended ? 'client-close' : e.reason || `close ${e.code}`)
    if (this.#ended) return
    // Requests written on the lost connection are never answered; the next connection's replies would match them.
    if (wasUp) this.#failWritten(new EnetError('ENET_ERR_NOT_CONNECTED', `not connected to ${this.#url} (connection lost before the reply)`))
    const b = this.#opts.backoff
    if (b) {
      if (wasUp && Date.now() - this.#upSince >= b.stableMs) this.#attempt = 0
      const base = Math.min(b.maxMs, b.initialMs * b.factor ** this.#attempt++)
      this.#timer = setTimeout(() => this.#dial(), Math.min(b.maxMs, base * (1 - b.jitter + Math.random() * 2 * b.jitter)))
      return
    }
    this.#ended = new EnetError('ENET_ERR_NOT_CONNECTED', `not connected to ${this.#url}${e.reason ? ` (${e.reason})` : ''}`)
    this.#failAll(this.#ended)
  }

  #failWritten(err) {
    for (const [replyId, list] of this.#waiting) {
      const keep = list.filter((p) => p.conn > this.#conns)
      for (const p of list) {
        if (p.conn > this.#conns) continue
        clearTimeout(p.timer)
        p.reject(err)
      }
      if (keep.length) this.#waiting.set(replyId, keep)
      else this.#waiting.delete(replyId)
    }
  }

  #failAll(err) {
    for (const list of this.#waiting.values()) {
      for (const p of list) {
        clearTimeout(p.timer)
        p.reject(err)
      }
    }
    this.#waiting.clear()
    for (const w of this.#readyWaiters.splice(0)) w.reject(err)
    this.#queue = []
    this.#queuedBytes = 0
  }

  #timedOut(p, timeoutMs) {
    const list = this.#waiting.get(p.replyId)
    const i = list ? list.indexOf(p) : -1
    if (i < 0) return
    list.splice(i, 1)
    if (list.length === 0) this.#waiting.delete(p.replyId)
    // Still queued: it must not go out later, where its reply would answer the next request.
    const q = p.queued ? this.#queue.indexOf(p.queued) : -1
    if (q >= 0) {
      this.#queue.splice(q, 1)
      this.#queuedBytes -= p.queued.length
    }
    p.reject(new EnetError('ENET_ERR_REQUEST_TIMEOUT', `no reply with msgId ${p.replyId} within ${timeoutMs} ms`))
  }
}

/** Open a client; it connects (and reconnects, unless `reconnect: false`) on its own. */
export function connect(url, opts = {}) {
  return new Client(url, opts)
}
