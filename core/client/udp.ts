// UDP client: one datagram per message from an ephemeral socket; answers the
// server's address-validation challenge.
import dgram from 'node:dgram'
import { lookup } from 'node:dns'
import net from 'node:net'
import type { DatagramCodec } from '../wire/codec.ts'
import { COOKIE_BYTES, COOKIE_CHALLENGE, COOKIE_ECHO, COOKIE_REQUEST } from '../wire/cookie.ts'
import { EnetError } from '../errors.ts'
import { Client, type ClientOptions } from './base.ts'

/** Waits between cookie requests until a challenge comes (4.4 s in all). */
const VALIDATE_DELAYS_MS = [200, 400, 800, 1_000, 2_000]

export class UdpClient extends Client {
  readonly protocol = 'udp'
  private socket: dgram.Socket | null = null
  private address = ''
  private inflight = 0
  private drained: (() => void) | null = null
  private readonly scratch = { msgId: 0, data: Buffer.alloc(0) }
  private readonly validate: boolean
  private validateTimer: NodeJS.Timeout | undefined = undefined

  constructor(
    url: string,
    host: string,
    port: number,
    private readonly codec: DatagramCodec,
    opts: ClientOptions,
  ) {
    super(url, host, port, opts)
    this.validate = opts.validateAddress === true
    const family = net.isIP(host)
    if (family) this.bind(host, family)
    else
      lookup(host, (err, address, fam) => {
        if (err) this.abort(err)
        else if (!this.ended) this.bind(address, fam)
      })
  }

  get localPort(): number | undefined {
    return this.connected ? this.socket!.address().port : undefined
  }

  protected override get endpoints() {
    const a = this.socket?.address()
    return { local: { address: a?.address ?? '0.0.0.0', port: a?.port ?? 0 }, remote: { address: this.address || this.host, port: this.port } }
  }

  protected encode(msgId: number, data: Buffer): Buffer {
    return this.codec.encode(msgId, data)
  }

  /** Datagrams leave at once or are dropped by the kernel: nothing piles up here. */
  protected get unsent(): number {
    return 0
  }

  protected write(frame: Buffer): void {
    this.inflight++
    this.socket!.send(frame, this.port, this.address, this.onSent)
  }

  protected shutdown(): Promise<void> {
    clearTimeout(this.validateTimer)
    const s = this.socket
    if (!s) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        const wasConnected = this.connected
        this.connected = false
        this.socket = null
        s.close(() => resolve())
        if (wasConnected) this.emit('disconnect', 'client-close')
      }
      if (this.inflight === 0 || !this.connected) done()
      else this.drained = done
    })
  }

  private bind(address: string, family: number): void {
    this.address = address
    const s = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
    s.on('message', this.onMessage)
    s.on('error', this.onError)
    this.socket = s
    // A loopback target gets a loopback-only socket: nothing else can reach it.
    const loopback = address === '::1' || address.startsWith('127.')
    s.bind({ port: 0, address: loopback ? address : undefined }, () => {
      if (this.ended) return
      if (this.validate) this.askCookie(0)
      else this.opened()
    })
  }

  /** A lost request or challenge is asked again, with backoff; with no challenge by the deadline, ready() fails. */
  private askCookie(attempt: number): void {
    if (this.connected || this.ended || !this.socket) return
    if (attempt === VALIDATE_DELAYS_MS.length) {
      return this.abort(new Error(`no address-validation challenge after ${attempt} requests over ${VALIDATE_DELAYS_MS.reduce((a, b) => a + b, 0)} ms`))
    }
    // Padded so the server's challenge fits within 3× this datagram.
    this.socket.send(this.codec.encode(COOKIE_REQUEST, Buffer.alloc(COOKIE_BYTES)), this.port, this.address)
    this.validateTimer = setTimeout(() => this.askCookie(attempt + 1), VALIDATE_DELAYS_MS[attempt])
  }

  private abort(err: Error): void {
    clearTimeout(this.validateTimer)
    this.report(err)
    if (this.ended) return
    try {
      this.socket?.close()
    } catch {
      // A socket whose bind failed may already be released; nothing to free.
    }
    this.socket = null
    this.ended = new EnetError('ENET_ERR_NOT_CONNECTED', [`${this.url} (${err.message})`], { cause: err })
    this.fail(this.ended)
  }

  private readonly onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    // Only the server answers: a datagram from anywhere else is not a reply.
    if (rinfo.port !== this.port || rinfo.address !== this.address) return
    const c = this.codec
    // Short, oversized or lying datagrams are dropped, as the server does.
    if (msg.length < c.headerSize || msg.length - c.headerSize > this.maxPacketSize) return
    if (!c.decode(msg, this.scratch)) return
    if (this.scratch.msgId === COOKIE_CHALLENGE) return this.answerChallenge(this.scratch.data)
    this.received(this.scratch.msgId, this.scratch.data)
  }

  private answerChallenge(cookie: Buffer): void {
    this.socket?.send(this.codec.encode(COOKIE_ECHO, cookie), this.port, this.address, (err) => {
      if (err || this.connected || this.ended) return
      clearTimeout(this.validateTimer)
      this.opened()
    })
    this.emit('validated')
  }

  private readonly onSent = (err: Error | null): void => {
    if (err) this.report(err)
    if (--this.inflight === 0 && this.drained) this.drained()
  }

  private readonly onError = (err: Error): void => {
    if (this.connected) this.report(err)
    else this.abort(err)
  }
}
