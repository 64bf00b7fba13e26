// WebSocket (the `ws` package): one binary message carries exactly one frame
// of the TCP codec, so browsers speak the same protocol as TCP peers and the
// same dispatch, limits, hooks and plugins apply. Text messages, messages
// over maxPacketSize and messages that are not one whole frame close the
// connection with the WebSocket close code that says why.
import http from 'node:http'
import type net from 'node:net'
import { WebSocketServer, type RawData, type WebSocket } from 'ws'
import type { FrameCodec } from '../wire/codec.ts'
import { EnetError } from '../errors.ts'
import type { CloseReason } from '../types.ts'
import { OUTBOUND_CHECK_BYTES, requestDeadline, type TransportHost } from './context.ts'
import { clock } from '../engine/connection.ts'
import { StreamConnection, admit, remoteText } from './stream.ts'

/** RFC 6455 close codes the server sends. */
export const WS_CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  invalidPayload: 1007,
  policy: 1008,
  tooBig: 1009,
} as const

/** Room for the codec's header above maxPacketSize in ws's own payload bound (tlv-be needs 8). */
const HEADER_ROOM = 64
/** How long a close handshake may take before the socket is dropped. */
const CLOSE_GRACE_MS = 2_000

/** Close code and text per reason; reasons not listed end the socket without a close frame. */
const CLOSE_CODES: Partial<Record<CloseReason, number>> = {
  'server-close': WS_CLOSE.goingAway,
  kicked: WS_CLOSE.policy,
  'idle-timeout': WS_CLOSE.goingAway,
  'frame-timeout': WS_CLOSE.policy,
  'frame-too-large': WS_CLOSE.tooBig,
  'bad-frame': WS_CLOSE.invalidPayload,
  'text-message': WS_CLOSE.unsupportedData,
}

export class WsConnection extends StreamConnection {
  readonly protocol = 'ws' as const
  private paused = false
  /** Messages ws had parsed already when reading paused; taken first when room comes back. */
  private held: Buffer[] = []
  private peerError: Error | undefined
  /**
   * Message payloads in and out: the enet frames, as TCP counts them. The
   * socket's own counts would add WebSocket frame headers, masks, control
   * frames and the upgrade, so a message would cost more bytes here than on TCP.
   */
  private received = 0
  private sent = 0

  constructor(
    private readonly ws: WebSocket,
    socket: net.Socket,
    host: TransportHost,
    codec: FrameCodec,
  ) {
    super(socket, host, codec)
    // Before ws's own listener: bytes of a message not yet whole start the
    // frame deadline, and the message they complete (parsed synchronously
    // in ws's listener) stops it.
    socket.prependListener('data', () => {
      this.lastActive = clock()
      if (this.partialSince === 0) this.partialSince = this.lastActive
    })
    ws.on('message', (data: RawData, isBinary: boolean) => this.message(data as Buffer, isBinary))
    ws.on('ping', this.control)
    ws.on('pong', this.control)
    ws.on('error', (err: Error & { code?: string }) => {
      // ws refused a message by its declared length, before buffering it, and sends 1009 itself.
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.badFrame(new EnetError('ENET_ERR_WS_TOO_LARGE', [this.decoder.maxPacketSize]), true)
      else this.peerError = err
    })
    ws.on('close', () => this.close(this.peerError ? 'peer-error' : 'peer-closed'))
  }

  private readonly control = (): void => {
    this.partialSince = 0
  }

  private message(data: Buffer, isBinary: boolean): void {
    this.partialSince = 0
    this.received += data.length
    if (this.closed || this.closingFor !== null) return
    if (!isBinary) {
      this.host.rlog.warn('text-message', { conn: this.id, protocol: 'ws', remote: remoteText(this.remote) }, 'closing connection: text WebSocket message; send one binary frame per message')
      // As after a bad frame: what came before it is answered first.
      this.closingFor = 'text-message'
      this.stopReading()
      this.closeIfAnswered()
      return
    }
    if (this.paused) {
      this.held.push(data)
      return
    }
    this.take(data)
    this.pauseIfFull()
  }

  private take(data: Buffer): void {
    const d = this.decoder
    try {
      d.push(data)
      if (!d.next() || d.pending !== 0) throw new EnetError('ENET_ERR_BAD_FRAME', [`a WebSocket message must hold exactly one whole frame, got ${data.length} bytes`])
    } catch (err) {
      this.badFrame(err)
      return
    }
    this.host.dispatcher.deliver(this, d.msgId, d.data)
  }

  private pauseIfFull(): void {
    if (this.closed || !this.host.dispatcher.full(this)) return
    this.paused = true
    this.ws.pause()
  }

  protected stopReading(): void {
    this.held = []
    this.paused = true
    this.ws.pause()
  }

  override roomAgain(): void {
    if (this.closingFor !== null) return this.closeIfAnswered()
    if (!this.paused || this.closed) return
    const full = () => this.host.dispatcher.full(this)
    let i = 0
    while (i < this.held.length && !this.closed && this.closingFor === null && !full()) this.take(this.held[i++]!)
    this.held = this.held.slice(i)
    if (this.held.length === 0 && !this.closed && this.closingFor === null && !full()) {
      this.paused = false
      this.ws.resume()
    }
  }

  override get unsent(): number {
    return this.ws.bufferedAmount
  }

  override get bytesIn(): number {
    return this.received
  }

  override get bytesOut(): number {
    return this.sent
  }

  protected write(msgId: number, data: Buffer): void {
    const frame = this.codec.encode(msgId, data)
    this.sent += frame.length
    this.ws.send(frame, { binary: true })
    if (this.ws.bufferedAmount > OUTBOUND_CHECK_BYTES) this.host.outboundGrew()
  }

  protected release(reason: CloseReason): void {
    this.held = []
    const ws = this.ws
    if (ws.readyState === ws.CLOSED) return
    const code = CLOSE_CODES[reason]
    if (ws.readyState === ws.OPEN) {
      if (code === undefined) return ws.terminate()
      ws.close(code, reason)
    }
    // Closing: our close frame, or the one ws sent on a protocol error, gets this long to leave.
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref()
  }
}

export class WsTransport {
  private readonly http: http.Server
  private readonly wss: WebSocketServer

  constructor(
    private readonly host: TransportHost,
    private readonly codec: FrameCodec,
  ) {
    // An upgrade request that never finishes its headers is a slowloris too.
    this.http = http.createServer(requestDeadline(host.config.limits.frameTimeoutMs), (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close', upgrade: 'websocket' })
      res.end('enet: this port speaks WebSocket only\n')
    })
    // No compression: a small message must not inflate into a large one (and it costs CPU per message).
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: this.maxPayload() })
    this.http.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.upgrade(req, socket, head))
    this.http.on('error', (err) => host.log.error({ err }, 'ws server error'))
  }

  private maxPayload(): number {
    return this.host.config.limits.maxPacketSize + HEADER_ROOM
  }

  private upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => {})
    const path = (req.url ?? '/').split('?')[0]
    if (path !== this.host.config.ws.path) return refuseUpgrade(socket, 404, 'Not Found')
    if (!admit(this.host, socket.remoteAddress, socket.remotePort)) return refuseUpgrade(socket, 503, 'Service Unavailable')
    // ws reads its payload bound at each upgrade: a lowered maxPacketSize
    // reaches new connections here and open ones through their decoder.
    this.wss.options.maxPayload = this.maxPayload()
    this.wss.handleUpgrade(req, socket, head, (ws) => this.host.opened(new WsConnection(ws, socket, this.host, this.codec)))
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen({ host, port }, () => {
        this.http.off('error', reject)
        const a = this.http.address() as net.AddressInfo
        resolve({ host: a.address, port: a.port })
      })
    })
  }

  /** Stop accepting; upgraded connections stay until closed one by one. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => (this.http.listening ? this.http.close(() => resolve()) : resolve()))
  }
}

function refuseUpgrade(socket: net.Socket, status: number, text: string): void {
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
}
