// Attacks: each hostile input the Go originals fall over on, sent at a real
// `enet start` (bundled plugins, default limits except the two timeouts
// shortened below; an attack that needs other udp keys gets a server of its
// own) in a child process on 127.0.0.1, while a control client
// keeps asking for echoes over TCP and UDP. For each attack it prints what was
// sent, what the server did (its counters), the server's peak RSS over its
// RSS before, and how many control requests were answered or lost meanwhile.
//
//   npm run attacks                     # all of them, about half a minute
//   npm run attacks -- --only slowloris # some (comma-separated names, as printed after ##)
//
// The tests that pin each policy are listed in SECURITY.md; this prints figures.
import dgram from 'node:dgram'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { adminRequest } from '../core/runtime/admin.ts'
import { signMessage } from '../plugins/heartbeat/auth.ts'
import { connect, type Client } from '../core/client/index.ts'
import { enetDatagram, tlvBE } from '../core/wire/codec.ts'
import { startEnetChild, type EnetChild } from './enet-child.ts'

const { values } = parseArgs({ args: process.argv.slice(2), options: { only: { type: 'string' } } })

const BUNDLED = fileURLToPath(new URL('../plugins', import.meta.url))
const SECRET = 'attacks-demo-secret-0123456789abcdef'
const MiB = 1024 * 1024
const ECHO = 1
const HANG = 2
const FLOOD_REPLY = 3
const FAULTY = 5
const INBOUND_BYTES = 128 * 1024
const INBOUND_TOTAL = 2 * 1024 * 1024
const FRAME_TIMEOUT_MS = 1_000
const HANDLER_TIMEOUT_MS = 500
/** peer-flood's udp.oneShotIdleMs: the ordinary idle timeout (see there). */
const PEER_FLOOD_ONE_SHOT_MS = 60_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const turn = () => new Promise((r) => setImmediate(r))
const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`

// ---- the server under attack ---------------------------------------------------

type Counters = Record<string, number>
/** udp keys an attack's own server sets over the defaults. */
type UdpConfig = { oneShotIdleMs?: number }

class Target {
  private logLines = 0
  private constructor(
    private readonly server: EnetChild,
    readonly root: string,
    readonly tcp: number,
    readonly udp: number,
  ) {}

  static async start(opts: { secret?: boolean; udp?: UdpConfig }): Promise<Target> {
    const root = mkdtempSync(join(tmpdir(), 'enet-attacks-'))
    mkdirSync(join(root, 'plugins', 'target'), { recursive: true })
    writeFileSync(
      join(root, 'plugins', 'target', 'index.ts'),
      `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'target',
  routes: {
    ${ECHO}: (req) => void req.reply(${ECHO}, req.data),
    // Never answers: the handler timeout ends it.
    ${HANG}: () => new Promise(() => {}),
    // Asks for N MiB of replies, in 4 KiB frames.
    ${FLOOD_REPLY}: (req) => {
      const chunk = Buffer.alloc(4096, 0x61)
      for (let i = 0; i < Number(req.text()) * 256; i++) if (!req.reply(${FLOOD_REPLY}, chunk)) break
    },
  },
})
`,
    )
    // A plugin with a bug: every request to it leaves a rejection and a throwing timer behind.
    mkdirSync(join(root, 'plugins', 'crashy'), { recursive: true })
    writeFileSync(
      join(root, 'plugins', 'crashy', 'index.ts'),
      `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'crashy',
  routes: {
    ${FAULTY}: (req) => {
      req.reply(${FAULTY}, 'ok')
      void Promise.reject(new Error('a stray rejection'))
      setTimeout(() => { throw new Error('a throwing timer') }, 1)
    },
  },
})
`,
    )
    writeFileSync(
      join(root, 'enet.config.ts'),
      `import { defineConfig } from 'enet'
export default defineConfig({
  // Inbound bounds below the 256 KiB that 64 queued 4 KiB frames hold, so inbound-hog reaches them.
  limits: { frameTimeoutMs: ${FRAME_TIMEOUT_MS}, handlerTimeoutMs: ${HANDLER_TIMEOUT_MS}, maxInboundBytes: ${INBOUND_BYTES}, maxInboundTotalBytes: ${INBOUND_TOTAL} },
  log: { level: 'warn', pretty: false },${opts.udp ? `\n  udp: ${JSON.stringify(opts.udp)},` : ''}
  plugins: {
    dirs: [${JSON.stringify(BUNDLED)}, './plugins'],
    watch: false,
    options: { heartbeat: ${opts.secret ? `{ secret: ${JSON.stringify(SECRET)} }` : '{}'}, logging: { requests: false } },
    // Kept running, so every fault of the plugin-fault attack is one more contained, none hidden by an unload.
    faults: { byPlugin: { crashy: { policy: 'keep' } } },
  },
})
`,
    )
    let t: Target | undefined
    const server = startEnetChild(join(root, 'enet.config.ts'), { cwd: root, stderr: 'inherit', onLine: (line) => t?.count(line) })
    const ports = await server.ports
    t = new Target(server, root, ports.tcp, ports.udp)
    const child = server.child
    child.on('exit', (code, signal) => {
      if (!t!.stopping) {
        console.error(`attacks: the server died (code ${code}, signal ${signal}): that is a failure`)
        process.exit(1)
      }
    })
    return t
  }

  stopping = false

  /** Log lines the server wrote (JSON, warn and up): their number is bounded under attack. */
  get lines(): number {
    return this.logLines
  }

  count(line: string): void {
    if (line.startsWith('{')) this.logLines++
  }

  rss(): number {
    return this.server.rss()
  }

  async status(): Promise<Record<string, unknown>> {
    const r = await adminRequest(join(this.root, '.enet', 'admin.sock'), { cmd: 'status' })
    if (!r.ok) throw new Error(`attacks: status failed: ${r.error}`)
    return r
  }

  async counters(): Promise<Counters> {
    const r = await adminRequest(join(this.root, '.enet', 'admin.sock'), { cmd: 'status' })
    if (!r.ok) throw new Error(`attacks: status failed: ${r.error}`)
    return { ...(r.counters as Counters), connections: r.connections as number }
  }

  async stop(): Promise<void> {
    this.stopping = true
    const exited = new Promise((r) => this.server.child.once('exit', r))
    this.server.child.kill('SIGTERM')
    await exited
    rmSync(this.root, { recursive: true, force: true })
  }
}

// ---- the control client: is everyone else still served? ----------------------

class Control {
  ok = 0
  lost = 0
  private running = true
  private readonly loops: Promise<void>[]
  private constructor(private readonly clients: Client[]) {
    this.loops = clients.map((c) => this.loop(c))
  }

  static async start(t: Target): Promise<Control> {
    const clients = [connect(`tcp://127.0.0.1:${t.tcp}`), connect(`udp://127.0.0.1:${t.udp}`, { validateAddress: true })]
    await Promise.all(clients.map((c) => c.ready()))
    return new Control(clients)
  }

  private async loop(c: Client): Promise<void> {
    for (let i = 0; this.running; i++) {
      const body = `control ${i}`
      try {
        const m = await c.request(ECHO, body, { timeoutMs: 2_000 })
        if (m.data.toString() === body) this.ok++
        else this.lost++
      } catch {
        this.lost++
      }
      await sleep(10)
    }
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
    for (const c of this.clients) c.close()
  }
}

// ---- attack tools --------------------------------------------------------------

function header(msgId: number, len: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt32BE(msgId, 0)
  b.writeUInt32BE(len >>> 0, 4)
  return b
}

function tcpOpen(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => resolve(s))
    s.once('error', reject)
  })
}

/** Resolves when the server has closed the socket (or after ms). */
function closedBy(s: net.Socket, ms: number): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    s.once('close', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

/** A UDP socket on `local` (another 127.0.0.x address stands in for another host). */
async function udpSocket(onMessage?: (msg: Buffer) => void, local = '127.0.0.1'): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4')
  s.on('error', () => {})
  if (onMessage) s.on('message', onMessage)
  await new Promise<void>((r) => s.bind(0, local, r))
  return s
}

/** Sends datagrams in bursts that the kernel's receive buffer can take, so drops are the server's. */
async function udpSendAll(s: dgram.Socket, port: number, datagrams: Iterable<Buffer>, burst = 50): Promise<number> {
  let n = 0
  let pending: Promise<void>[] = []
  for (const d of datagrams) {
    pending.push(new Promise((r) => s.send(d, port, '127.0.0.1', () => r())))
    n++
    if (pending.length === burst) {
      await Promise.all(pending)
      pending = []
      await sleep(1)
    }
  }
  await Promise.all(pending)
  return n
}

function* repeat(n: number, make: (i: number) => Buffer): Generator<Buffer> {
  for (let i = 0; i < n; i++) yield make(i)
}

const dgramOf = (msgId: number, data: string | Buffer = '') => enetDatagram.encode(msgId, Buffer.from(data))

/** The node list over TCP (one page holds 64 KiB, all of these): how many nodes the server holds. */
async function liveNodes(t: Target): Promise<string[]> {
  const c = connect(`tcp://127.0.0.1:${t.tcp}`, { reconnect: false })
  try {
    const m = await c.request(11, '', { replyId: 10, timeoutMs: 2_000 })
    return m.data.toString().split(' ').filter(Boolean)
  } finally {
    c.close()
  }
}

// ---- the attacks -----------------------------------------------------------------

interface Outcome {
  sent: string
  /** Counter names whose change to print, or extra text. */
  show: string[]
  extra?: string
  /** False when the server did not hold (beyond what the control client sees). */
  held?: boolean
}

interface Attack {
  name: string
  secret?: boolean
  /** Set: the attack runs on a server of its own with these udp keys. */
  udp?: UdpConfig
  run(t: Target): Promise<Outcome>
}

const attacks: Attack[] = [
  {
    name: 'huge-header',
    async run(t) {
      let accepted = 0
      const N = 50
      for (let i = 0; i < N; i++) {
        const s = await tcpOpen(t.tcp)
        s.on('error', () => {})
        const closed = closedBy(s, 2_000)
        s.write(header(ECHO, 0xfffffff0))
        // Keep pushing body bytes until the server hangs up (at most 1 MiB).
        for (let k = 0; k < 16 && !s.destroyed; k++) {
          s.write(Buffer.alloc(64 * 1024))
          await turn()
        }
        if (await closed) accepted++
        s.destroy()
      }
      return { sent: `${N} conns, each an 8-byte header declaring 4 GiB, then up to 1 MiB of body`, show: ['closed.frame-too-large'], extra: `${accepted}/${N} closed by the server` }
    },
  },
  {
    name: 'slowloris',
    async run(t) {
      const N = 90
      const socks = await Promise.all(Array.from({ length: N }, () => tcpOpen(t.tcp)))
      const t0 = performance.now()
      const closeTimes: number[] = []
      for (const s of socks) {
        s.on('error', () => {})
        s.once('close', () => closeTimes.push(performance.now() - t0))
      }
      const frame = Buffer.concat([header(ECHO, 100), Buffer.alloc(100)])
      // One byte every 100 ms per connection: a frame that would take 10 s.
      for (let i = 0; i < frame.length && closeTimes.length < N; i++) {
        for (const s of socks) if (!s.destroyed) s.write(frame.subarray(i, i + 1))
        await sleep(100)
      }
      for (const s of socks) s.destroy()
      const worst = Math.max(...closeTimes)
      return { sent: `${N} conns trickling 1 byte/100 ms of a 108-byte frame`, show: ['closed.frame-timeout'], extra: `all closed after ${(worst / 1000).toFixed(1)} s (frameTimeoutMs ${FRAME_TIMEOUT_MS})` }
    },
  },
  {
    name: 'tiny-datagrams',
    async run(t) {
      const s = await udpSocket()
      const n = await udpSendAll(s, t.udp, repeat(20_000, () => Buffer.from([0x00, 0x0b])))
      s.close()
      return { sent: `${n} UDP datagrams of 2 bytes (the Go server panics on one)`, show: ['drop.short-datagram'], extra: 'the rest, if any, lost in the kernel before the server' }
    },
  },
  {
    name: 'big-datagrams',
    async run(t) {
      const s = await udpSocket()
      // Two at a time: the kernel's receive buffer holds only a few of these.
      const n = await udpSendAll(s, t.udp, repeat(2_000, () => Buffer.alloc(60_000, 0x0b)), 2)
      s.close()
      return { sent: `${n} UDP datagrams of 60,000 bytes (maxPacketSize 4 KiB)`, show: ['drop.oversized-datagram'] }
    },
  },
  {
    name: 'conn-flood',
    async run(t) {
      const N = 1_000
      const results = await Promise.allSettled(Array.from({ length: N }, () => tcpOpen(t.tcp)))
      const socks = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      for (const s of socks) s.on('error', () => {})
      const refused = await Promise.all(socks.map((s) => closedBy(s, 1_000)))
      const held = refused.filter((c) => !c).length
      for (const s of socks) s.destroy()
      return { sent: `${N} TCP connects at once from one IP`, show: ['refused.max-conn-per-ip'], extra: `${held} held open (maxConnPerIp 100, control holds 1)` }
    },
  },
  {
    name: 'never-reads',
    async run(t) {
      const N = 20
      const socks = await Promise.all(Array.from({ length: N }, () => tcpOpen(t.tcp)))
      for (const s of socks) {
        s.on('error', () => {})
        s.pause()
      }
      const c0 = await t.counters()
      const closedCount = (c: Counters) => c['closed.slow-consumer']! - c0['closed.slow-consumer']! + c['closed.outbound-budget']! - c0['closed.outbound-budget']!
      for (const s of socks) s.write(tlvBE.encode(FLOOD_REPLY, Buffer.from('64')))
      // The server's close is a FIN queued behind the replies this side never
      // took (its receive window is shut), so a peer that never reads never
      // sees it. Wait until the server counts its closes (or 5 s), then read
      // what is queued: a closed connection ends well short of the 64 MiB
      // asked; one left open keeps streaming them until the timeout below.
      for (const t0 = performance.now(); closedCount(await t.counters()) < N && performance.now() - t0 < 5_000; ) await sleep(50)
      const got = socks.map(() => 0)
      const closed = socks.map((s, i) => {
        s.on('data', (b: Buffer) => void (got[i]! += b.length))
        s.resume()
        return closedBy(s, 5_000)
      })
      const ended = await Promise.all(closed)
      const n = ended.filter((c, i) => c && got[i]! < 64 * MiB).length
      for (const s of socks) s.destroy()
      return {
        sent: `${N} conns that never read, each asking for 64 MiB of replies`,
        show: ['closed.slow-consumer', 'closed.outbound-budget'],
        held: n === N,
        extra: `${n}/${N} closed by the server, each after at most ${mib(Math.max(...got))} had reached it (maxOutboundBytes 1 MiB, plus what the kernels' socket buffers held)`,
      }
    },
  },
  {
    name: 'unknown-msgid',
    async run(t) {
      const s = await tcpOpen(t.tcp)
      s.on('error', () => {})
      const N = 100_000
      const frames: Buffer[] = []
      for (let i = 0; i < N; i++) frames.push(tlvBE.encode(1_000 + (i % 50_000), Buffer.from('x')))
      const wire = Buffer.concat(frames)
      for (let off = 0; off < wire.length; off += 256 * 1024) {
        if (!s.write(wire.subarray(off, off + 256 * 1024))) await new Promise((r) => s.once('drain', r))
      }
      // A known msgId after them: its answer means every frame before it was read.
      const done = new Promise<void>((resolve) => s.on('data', () => resolve()))
      s.write(tlvBE.encode(ECHO, Buffer.from('last')))
      await done
      s.destroy()
      return { sent: `${N} frames with 50,000 different unknown msgIds on one conn`, show: ['drop.unknown-msgid'] }
    },
  },
  {
    name: 'hanging-handler',
    async run(t) {
      const s = await tcpOpen(t.tcp)
      s.on('error', () => {})
      const N = 256
      const WAIT = 10
      for (let i = 0; i < N; i++) s.write(tlvBE.encode(HANG, Buffer.from(String(i))))
      const t0 = performance.now()
      const before = (await t.counters()).timedOut!
      while ((await t.counters()).timedOut! - before < WAIT && performance.now() - t0 < 10_000) await sleep(50)
      s.destroy()
      return {
        sent: `${N} requests to a handler that never settles, on one conn`,
        show: ['timedOut'],
        extra: `in order per conn, each ended at ${HANDLER_TIMEOUT_MS} ms; at most 64 queued (maxInflightPerConn), the rest left unread in the socket`,
      }
    },
  },
  {
    name: 'list-amplify',
    async run(t) {
      // 100 nodes with long names, then a stream of 4-byte `11` requests.
      const beat = await udpSocket()
      await udpSendAll(beat, t.udp, repeat(100, (i) => dgramOf(10, `producer-${String(i).padStart(3, '0')}.rack-7.example.internal:6430`)))
      beat.close()
      const full = (await liveNodes(t)).reduce((n, s) => n + s.length + 1, 0)
      let bytesIn = 0
      let replies = 0
      // A spoofer sends as the victim's IP and rotates the port: 50 ports × 20 requests.
      const ports = await Promise.all(
        Array.from({ length: 50 }, () =>
          udpSocket((msg) => {
            bytesIn += msg.length
            replies++
          }),
        ),
      )
      const N = 1_000
      for (const s of ports) await udpSendAll(s, t.udp, repeat(N / ports.length, () => dgramOf(11)), 10)
      await sleep(300)
      for (const s of ports) s.close()
      const ratio = bytesIn / (N * 4)
      const goRatio = (full + 4) / 4
      return {
        sent: `${N} node-list requests of 4 bytes from 50 ports of one IP, 100 nodes registered`,
        show: ['drop.rate-limit', 'drop.udp-reply-budget'],
        extra: `${replies} replies, ${bytesIn} bytes back for ${N * 4} sent: ${ratio.toFixed(1)}× (Go: ${goRatio.toFixed(0)}×, the whole list of ${full + 4} bytes each); bound: the IP's 8 KiB burst + 4 KiB/s + credit of ≤64 KiB its own earlier traffic earned`,
      }
    },
  },
  {
    name: 'beat-flood',
    async run(t) {
      // 50 sources × 200 distinct nodes each.
      const socks = await Promise.all(Array.from({ length: 50 }, () => udpSocket()))
      let n = 0
      for (const [k, s] of socks.entries()) n += await udpSendAll(s, t.udp, repeat(200, (i) => dgramOf(10, `10.${k}.${i >> 8}.${i & 255}:6430`)))
      for (const s of socks) s.close()
      const live = (await liveNodes(t)).length
      return { sent: `${n} heartbeats for distinct nodes from 50 ports of one IP`, show: ['drop.rate-limit'], extra: `registry holds ${live} nodes, 100 of them from list-amplify, all from one source (msgId 10: 100/s, burst 200 per source; maxNodesPerSource 256 of maxNodes 1,024)` }
    },
  },
  {
    name: 'peer-flood',
    // A spoofer's one datagram per port gets no reply, so each is a one-shot
    // session, which ends after udp.oneShotIdleMs (2 s). A real flood sends
    // 12,000 datagrams in a fraction of that; this one, paced under the
    // kernel's receive buffer on a loaded machine, takes longer, and its
    // sessions would expire before the table is full. Held for 60 s (the
    // ordinary idle timeout), they stand for a flood faster than the expiry,
    // which is the case maxPeers eviction is for. Replying to them instead
    // would not be a spoofer's flood, and the reply budgets would decide
    // which sessions became ordinary. On a server of its own, so no other
    // attack's one-shot sessions are held longer.
    udp: { oneShotIdleMs: PEER_FLOOD_ONE_SHOT_MS },
    async run(t) {
      const c0 = await t.counters()
      // More source ports than udp.maxPeers (10,000), one datagram each, as a
      // spoofer rotating ports would send; then a client never seen before.
      // All sockets stay open until the end, so no port is reused. Spread over
      // 12 hosts (127.0.0.11-22), 1,000 ports each: one host alone would stop
      // at its share (udp.maxPeersPerSource, see session-hog).
      const N = 12_000
      const socks: dgram.Socket[] = []
      let sent = 0
      for (let i = 0; i < N; i += 500) {
        const batch = await Promise.all(Array.from({ length: Math.min(500, N - i) }, () => udpSocket(undefined, `127.0.0.${11 + Math.floor(i / 1_000)}`)))
        // Paced, 100 datagrams per 5 ms: the kernel's receive buffer holds only a few
        // hundred small datagrams, and what is measured here is the server, not the kernel.
        for (let k = 0; k < batch.length; k += 100) {
          await Promise.all(batch.slice(k, k + 100).map((s) => udpSendAll(s, t.udp, [dgramOf(99)])))
          sent += Math.min(100, batch.length - k)
          await sleep(5)
        }
        socks.push(...batch)
      }
      // Let the server work through what the kernel queued, so the newcomer's
      // datagram is not lost in a full receive buffer (UDP: that is no verdict on enet).
      for (let prev = -1, now = 0; now !== prev; await sleep(100)) [prev, now] = [now, (await t.counters())['closed.peer-evicted']!]
      const fresh = connect(`udp://127.0.0.1:${t.udp}`)
      let answered = false
      try {
        await fresh.ready()
        answered = (await fresh.request(ECHO, 'newcomer', { timeoutMs: 2_000 })).data.toString() === 'newcomer'
      } catch {
        answered = false
      } finally {
        fresh.close()
        for (const s of socks) s.close()
      }
      const c = await t.counters()
      // The claim is eviction from a full table: without one, the newcomer proves nothing.
      const evicted = c['closed.peer-evicted']! - c0['closed.peer-evicted']!
      const expired = c['closed.one-shot-timeout']! - c0['closed.one-shot-timeout']!
      return {
        sent: `${sent} datagrams, one from each of ${sent} source ports of 12 hosts`,
        show: ['closed.peer-evicted', 'drop.max-peers', 'closed.one-shot-timeout'],
        held: answered && evicted > 0,
        // connections counts the control client's TCP connection too; datagrams the kernel dropped made no session.
        extra: `${c.connections! - 1} UDP sessions live (maxPeers 10,000, udp.oneShotIdleMs ${PEER_FLOOD_ONE_SHOT_MS / 1000} s here); ${evicted > 0 ? 'the table was full' : `the table was NOT full (${expired} expired first)`}; a new client ${answered ? 'was answered' : 'got NO answer'}`,
      }
    },
  },
  {
    name: 'plugin-fault',
    async run(t) {
      // Each request to the buggy plugin leaves two errors behind that no handler catches.
      const c = connect(`tcp://127.0.0.1:${t.tcp}`, { reconnect: false })
      await c.ready()
      const N = 200
      let answered = 0
      for (let i = 0; i < N; i++) if ((await c.request(FAULTY, '', { timeoutMs: 2_000 })).data.toString() === 'ok') answered++
      c.close()
      await sleep(200)
      const plugins = (await adminRequest(join(t.root, '.enet', 'admin.sock'), { cmd: 'plugins' })).plugins as Array<{ name: string; status: string; faults: number }>
      const crashy = plugins.find((p) => p.name === 'crashy')!
      return {
        sent: `${N} requests to a plugin whose handler leaves a stray rejection and a throwing timer behind`,
        show: ['faults.plugin'],
        held: crashy.status === 'active' && answered === N,
        extra: `${answered} answered; crashy ${crashy.status} with ${crashy.faults} faults (policy keep); the process kept serving`,
      }
    },
  },
  {
    name: 'locate-flood',
    async run(t) {
      // 300 nodes from 3 hosts, then one TCP connection asking for 1,000 different names.
      const hosts = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip) => udpSocket(undefined, ip)))
      for (const [k, s] of hosts.entries()) await udpSendAll(s, t.udp, repeat(100, (i) => dgramOf(10, `10.20.${k}.${i}:6430`)))
      // And one node beating over TCP: its queries pass no UDP reply budget, so every locate waits for a claim.
      const tcpNode = await tcpOpen(t.tcp)
      tcpNode.on('data', () => {})
      tcpNode.write(Buffer.concat([header(10, 14), Buffer.from('10.21.0.1:6430')]))
      await sleep(50)
      const live = (await liveNodes(t)).length
      const before = ((await t.status()).plugins as { locator: Record<string, number> }).locator
      // Four connections of one host: more locates in flight than one connection's maxInflightPerConn (64).
      const conns = await Promise.all(Array.from({ length: 4 }, () => tcpOpen(t.tcp)))
      const N = 1_000
      for (const [k, s] of conns.entries()) {
        s.on('data', () => {})
        for (let i = k; i < N; i += conns.length) s.write(Buffer.concat([header(20, 6), Buffer.from(`r${String(i).padStart(5, '0')}`)]))
      }
      await sleep(1_500)
      for (const s of conns) s.destroy()
      tcpNode.destroy()
      for (const h of hosts) h.close()
      const after = ((await t.status()).plugins as { locator: Record<string, number> }).locator
      const d = (k: string) => after[k]! - before[k]!
      const waves = d('waves')
      return {
        sent: `${N} locates of distinct names on 4 TCP connections of one host, ${live} live nodes (100 from each of 3 hosts over UDP, 1 over TCP)`,
        show: ['drop.rate-limit'],
        extra: `${d('locates')} reached the locator (50/s, burst 100 per source, now over TCP too); ${d('busySource')} refused at its share of pending names (maxPendingPerSource 64); ${waves} waves, ${d('capped')} of them cut to maxFanout 256 (Go asks every node); ${d('queries')} queries in all`,
      }
    },
  },
  {
    name: 'registry-fill',
    async run(t) {
      // One host registers as many nodes as its rate allows; then another host registers one.
      const hog = await udpSocket(undefined, '127.0.0.5')
      const N = 600
      for (let i = 0; i < N; i += 50) {
        await udpSendAll(hog, t.udp, repeat(50, (k) => dgramOf(10, `10.30.${(i + k) >> 8}.${(i + k) & 255}:6430`)))
        await sleep(120)
      }
      hog.close()
      const other = await udpSocket(undefined, '127.0.0.6')
      await udpSendAll(other, t.udp, [dgramOf(10, '10.31.0.1:6430')])
      await sleep(100)
      other.close()
      const live = await liveNodes(t)
      const fromHog = live.filter((n) => n.startsWith('10.30.')).length
      const hb = ((await t.status()).plugins as { heartbeat: Record<string, number> }).heartbeat
      return {
        sent: `${N} beats for distinct nodes from one host, paced at its rate limit, then 1 from another host`,
        show: ['drop.rate-limit'],
        held: live.includes('10.31.0.1:6430'),
        extra: `the host holds ${fromHog} nodes (maxNodesPerSource 256 of maxNodes 1,024; refusedSource ${hb.refusedSource}); the other host's node ${live.includes('10.31.0.1:6430') ? 'was registered' : 'was NOT registered'}`,
      }
    },
  },
  {
    name: 'session-hog',
    async run(t) {
      // One host opens more source ports than its share of udp.maxPeers; a session of another host must survive.
      const other = connect(`udp://127.0.0.1:${t.udp}`)
      await other.ready()
      await other.request(ECHO, 'before', { timeoutMs: 2_000 })
      const N = 3_000
      const socks: dgram.Socket[] = []
      for (let i = 0; i < N; i += 500) {
        const batch = await Promise.all(Array.from({ length: 500 }, () => udpSocket(undefined, '127.0.0.7')))
        for (let k = 0; k < batch.length; k += 100) {
          await Promise.all(batch.slice(k, k + 100).map((s) => udpSendAll(s, t.udp, [dgramOf(99)])))
          await sleep(5)
        }
        socks.push(...batch)
      }
      for (let prev = -1, now = 0; now !== prev; await sleep(100)) [prev, now] = [now, (await t.counters())['closed.peer-evicted']!]
      const c = await t.counters()
      let answered = false
      try {
        answered = (await other.request(ECHO, 'after', { timeoutMs: 2_000 })).data.toString() === 'after'
      } finally {
        other.close()
        for (const s of socks) s.close()
      }
      return {
        sent: `1 datagram from each of ${N} source ports of one host`,
        show: ['closed.peer-evicted', 'drop.max-peers'],
        held: answered,
        extra: `${c.connections! - 2} sessions live (udp.maxPeersPerSource 1,000 of maxPeers 10,000); another host's session ${answered ? 'kept and answered' : 'got NO answer'}`,
      }
    },
  },
  {
    name: 'spoof-many',
    async run(t) {
      // 40 nodes with long names fill a node-list page (~1 KB); then 200 "victims", 5 list requests each.
      const beat = await udpSocket(undefined, '127.0.0.8')
      await udpSendAll(beat, t.udp, repeat(40, (i) => dgramOf(10, `producer-${String(i).padStart(3, '0')}.rack-9.example.internal:6430`)))
      beat.close()
      let bytesIn = 0
      const victims = await Promise.all(Array.from({ length: 200 }, (_, i) => udpSocket((m) => void (bytesIn += m.length), `127.0.1.${i + 1}`)))
      const N = 5
      for (const v of victims) await udpSendAll(v, t.udp, repeat(N, () => dgramOf(11)), 5)
      await sleep(300)
      for (const v of victims) v.close()
      const sent = victims.length * N * 4
      return {
        sent: `${victims.length * N} node-list requests of 4 bytes, ${N} from each of ${victims.length} addresses (spoofed victims), a ~1 KB list`,
        show: ['drop.udp-unproven-budget', 'drop.udp-reply-budget', 'drop.rate-limit'],
        extra: `${bytesIn} bytes back for ${sent} sent: ${(bytesIn / sent).toFixed(0)}× (server-wide bound for unproven addresses: 256 KiB burst + 256 KiB/s, whatever the number of victims; without it each victim's own 8 KiB budget lets all ${N} of its ~1 KB replies out)`,
      }
    },
  },
  {
    name: 'inbound-hog',
    async run(t) {
      // 40 connections, each: one request to a handler that hangs, then 63 frames of 4 KiB queued behind it.
      const socks = await Promise.all(Array.from({ length: 40 }, () => tcpOpen(t.tcp)))
      const frame = Buffer.concat([header(ECHO, 4_096), Buffer.alloc(4_096, 0x62)])
      for (const s of socks) {
        s.on('data', () => {})
        s.on('error', () => {})
        s.write(header(HANG, 0))
        s.write(Buffer.concat(Array(63).fill(frame)))
      }
      await sleep(300)
      const st = await t.status()
      for (const s of socks) s.destroy()
      return {
        sent: '40 connections, each a hanging request followed by 63 × 4 KiB frames queued behind it',
        show: ['timedOut'],
        extra: `${st.queuedBytes as number} bytes queued server-wide after 300 ms (maxInboundBytes ${INBOUND_BYTES / 1024} KiB per connection, maxInboundTotalBytes ${INBOUND_TOTAL / MiB} MiB here; unbounded by bytes it would be 40 × 252 KiB = ${((40 * 63 * 4096) / MiB).toFixed(1)} MiB)`,
      }
    },
  },
  {
    name: 'forged-beats',
    secret: true,
    async run(t) {
      const s = await udpSocket()
      const good = signMessage(SECRET, 10, '127.0.0.1:7001')
      const forged = [
        ...repeat(60, (i) => dgramOf(10, `10.9.9.${i}:6430`)),
        ...repeat(60, (i) => dgramOf(10, signMessage('not-the-secret-000000000000', 10, `10.8.8.${i}:6430`))),
        ...repeat(20, (i) => dgramOf(10, signMessage(SECRET, 10, `10.7.7.${i}:6430`, { ts: Date.now() - 3_600_000 }))),
      ]
      const linesBefore = t.lines
      // Fewer than the per-IP burst for msgId 10 (200): every reject here is the signature's.
      await udpSendAll(s, t.udp, [dgramOf(10, good), ...repeat(20, () => dgramOf(10, good))])
      await udpSendAll(s, t.udp, forged)
      await sleep(200)
      s.close()
      const live = await liveNodes(t)
      return {
        sent: '1 signed beat + 20 replays of it, 60 unsigned, 60 wrong-key, 20 skewed by 1 h',
        show: ['drop.rate-limit'],
        extra: `registry: [${live.join(' ')}]; ${t.lines - linesBefore} log lines for 160 rejects`,
      }
    },
  },
  {
    name: 'strict-spoof',
    secret: true,
    async run(t) {
      let bytesIn = 0
      const s = await udpSocket((msg) => void (bytesIn += msg.length))
      const N = 1_000
      // A spoofer never sees the cookie, so never echoes it.
      await udpSendAll(s, t.udp, repeat(N, () => dgramOf(11)), 10)
      await sleep(300)
      s.close()
      return {
        sent: `${N} node-list requests of 4 bytes from an address that never proves itself (strict: auto, secret set)`,
        show: ['drop.udp-reply-budget', 'drop.rate-limit'],
        extra: `${bytesIn} bytes back for ${N * 4} sent: ${(bytesIn / (N * 4)).toFixed(2)}× (cookie challenges only)`,
      }
    },
  },
]

// ---- run and print -------------------------------------------------------------

const only = values.only?.split(',')
const chosen = only ? attacks.filter((a) => only.includes(a.name)) : attacks
if (chosen.length === 0) {
  console.error(`attacks: no attack named ${JSON.stringify(values.only)}; one of: ${attacks.map((a) => a.name).join(', ')}`)
  process.exit(2)
}

let failed = 0

async function runOne(t: Target, a: Attack): Promise<void> {
  const control = await Control.start(t)
  await sleep(100)
  const before = await t.counters()
  const rss0 = t.rss()
  let peak = rss0
  const sampler = setInterval(() => (peak = Math.max(peak, t.rss())), 20)
  const t0 = performance.now()
  const out = await a.run(t)
  const ms = performance.now() - t0
  await sleep(200)
  clearInterval(sampler)
  await control.stop()
  const after = await t.counters()
  const deltas = out.show.map((k) => `${k} +${(after[k] ?? 0) - (before[k] ?? 0)}`).join(', ')
  const served = control.lost === 0 && control.ok > 0 && out.held !== false
  if (!served) failed++
  console.log(`\n## ${a.name}${a.secret ? ' (secret set)' : ''}  (${(ms / 1000).toFixed(1)} s)`)
  console.log(`  sent:     ${out.sent}`)
  console.log(`  server:   ${deltas}${out.extra ? `; ${out.extra}` : ''}`)
  console.log(`  memory:   rss ${mib(rss0)} before, peak ${mib(peak)} (+${mib(peak - rss0)})`)
  const why = out.held === false ? " (the attack's own check)" : ''
  console.log(`  control:  ${control.ok} echoes answered, ${control.lost} lost${served ? '' : `  <-- FAILED${why}`}`)
}

// One server per (secret, udp keys): in the order the attacks are listed.
const groups = new Map<string, Attack[]>()
for (const a of chosen) {
  const key = JSON.stringify([Boolean(a.secret), a.udp ?? null])
  groups.set(key, [...(groups.get(key) ?? []), a])
}
for (const group of groups.values()) {
  const { secret, udp } = group[0]!
  const t = await Target.start({ secret, udp })
  const udpText = udp ? `, ${Object.entries(udp).map(([k, v]) => `udp.${k} ${v}`).join(', ')}` : ''
  console.log(`\n# enet on tcp 127.0.0.1:${t.tcp} udp 127.0.0.1:${t.udp}${secret ? ', heartbeat secret set (strict UDP mode on)' : ', Go-compatible defaults'}${udpText}`)
  for (const a of group) await runOne(t, a)
  await t.stop()
}
console.log(`\nattacks: ${chosen.length} run, server alive after each; failed (control lost requests, or the attack's own check): ${failed}`)
process.exit(failed === 0 ? 0 : 1)
