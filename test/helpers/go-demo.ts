// Raw sockets that behave like the Go enet demo's programs (demo/dataNode*.go,
// demo/apiNode.go), with loopback addresses:
// - a producer beats `host:port` (its query port) from a fresh UDP socket each
//   time and closes it; it listens on that fixed port for the bare resource
//   name (no msgId header) and answers msgId 21 `resource\nhost:port`, again
//   from a fresh socket;
// - a consumer keeps one socket and reads each reply into a 1024-byte buffer
//   (a longer datagram is cut there, as Go's conn.Read does).
import dgram from 'node:dgram'

const GO_READ_BUFFER = 1024

export function goDatagram(msgId: number, data: string | Buffer): Buffer {
  const body = Buffer.from(data)
  const out = Buffer.alloc(4 + body.length)
  out.writeUInt32BE(msgId, 0)
  body.copy(out, 4)
  return out
}

async function bound(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  return s
}

/** net.DialUDP, Write, Close: one datagram from a port nobody will listen on again. */
export async function sendOnce(serverPort: number, datagram: Buffer): Promise<number> {
  const s = await bound()
  const port = s.address().port
  await new Promise<void>((resolve, reject) => s.send(datagram, serverPort, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

export class GoProducer {
  /** The bare names the query port received. */
  readonly queries: string[] = []
  /** Source ports of the beats sent so far: a new one each time. */
  readonly beatPorts: number[] = []
  answered = 0
  private timer: NodeJS.Timeout | undefined

  private constructor(
    private readonly serverPort: number,
    private readonly socket: dgram.Socket,
    readonly resources: ReadonlySet<string>,
  ) {
    socket.on('message', (m) => {
      const name = m.toString('utf8')
      this.queries.push(name)
      if (!this.resources.has(name)) return
      this.answered++
      void sendOnce(this.serverPort, goDatagram(21, `${name}\n${this.node}`))
    })
  }

  static async start(serverPort: number, resources: string[] = []): Promise<GoProducer> {
    return new GoProducer(serverPort, await bound(), new Set(resources))
  }

  /** `127.0.0.1:<query port>`: what it announces. */
  get node(): string {
    return `127.0.0.1:${this.queryPort}`
  }

  get queryPort(): number {
    return this.socket.address().port
  }

  async beat(): Promise<void> {
    this.beatPorts.push(await sendOnce(this.serverPort, goDatagram(10, this.node)))
  }

  /** Beat now and every `intervalMs` (the Go demo's is 1 s). */
  async beatEvery(intervalMs: number): Promise<void> {
    await this.beat()
    this.timer = setInterval(() => void this.beat(), intervalMs)
  }

  private stopped: Promise<void> | undefined

  stop(): Promise<void> {
    clearInterval(this.timer)
    this.stopped ??= new Promise<void>((resolve) => this.socket.close(() => resolve()))
    return this.stopped
  }
}

export interface GoReply {
  msgId: number
  /** What the Go consumer sees: the data of the first 1024 bytes. */
  data: Buffer
  text: string
  /** Bytes the datagram had; over 1024 means the Go consumer lost the end. */
  datagramBytes: number
}

export class GoConsumer {
  private readonly inbox: Buffer[] = []
  private waiting: (() => void) | null = null

  private constructor(
    private readonly serverPort: number,
    private readonly socket: dgram.Socket,
  ) {
    socket.on('message', (m) => {
      this.inbox.push(m)
      this.waiting?.()
    })
  }

  static async open(serverPort: number): Promise<GoConsumer> {
    return new GoConsumer(serverPort, await bound())
  }

  get localPort(): number {
    return this.socket.address().port
  }

  /** Write one datagram, then read one reply into a 1024-byte buffer. */
  async request(msgId: number, data: string | Buffer, timeoutMs = 3_000): Promise<GoReply> {
    await new Promise<void>((resolve, reject) => this.socket.send(goDatagram(msgId, data), this.serverPort, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
    const m = await this.read(timeoutMs)
    const seen = m.subarray(0, GO_READ_BUFFER)
    const body = Buffer.from(seen.subarray(4))
    return { msgId: seen.readUInt32BE(0), data: body, text: body.toString('utf8'), datagramBytes: m.length }
  }

  private read(timeoutMs: number): Promise<Buffer> {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift()!)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null
        reject(new Error(`GoConsumer: no reply within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiting = () => {
        clearTimeout(timer)
        this.waiting = null
        resolve(this.inbox.shift()!)
      }
    })
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()))
  }
}
