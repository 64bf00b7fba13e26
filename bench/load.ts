// Load generator: raw net/dgram sockets against 127.0.0.1, closed loop.
// Long-lived child of bench/index.ts; takes one command at a time over IPC.
//
// TCP: every connection keeps `inflight` TLV requests outstanding. The reply
// stream is parsed frame by frame (header and length checked); replies are
// matched FIFO (TCP echo keeps order) against the send timestamps. The
// replies that complete in one read are replaced by the same number of new
// requests in a single write, so the generator spends little per message.
// UDP: every socket keeps `inflight` datagrams outstanding, each carrying its
// slot and a sequence number; a reply is matched by slot + sequence, a request
// unanswered after lossTimeoutMs counts as lost and its slot is reissued.
import net from 'node:net'
import dgram from 'node:dgram'
import {
  ECHO_MSG_ID,
  exitWithParent,
  send,
  type IdleOpenOptions,
  type IdleOpenResult,
  type LoadCommand,
  type ProbeOptions,
  type ProbeResult,
  type RunResult,
  type TcpRunOptions,
  type UdpRunOptions,
} from './common.ts'

const HOST = '127.0.0.1'
const SAMPLE_CAP = 4_000_000
const DRAIN_TIMEOUT_MS = 2000
const BASE = process.hrtime.bigint()
/** Monotonic nanoseconds since this process started, as a double. */
const nowNs = (): number => Number(process.hrtime.bigint() - BASE)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

class Latencies {
  private buf = new Float64Array(1 << 16)
  private n = 0
  seen = 0
  add(ns: number): void {
    this.seen++
    if (this.n < this.buf.length) {
      this.buf[this.n++] = ns
      return
    }
    if (this.n < SAMPLE_CAP) {
      const next = new Float64Array(Math.min(SAMPLE_CAP, this.buf.length * 2))
      next.set(this.buf)
      this.buf = next
      this.buf[this.n++] = ns
      return
    }
    const j = Math.floor(Math.random() * this.seen) // reservoir sampling past the cap
    if (j < this.n) this.buf[j] = ns
  }
  summary(): { p50Us: number; p99Us: number; maxUs: number; samples: number } {
    const s = this.buf.subarray(0, this.n).sort()
    const q = (p: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))]! / 1000 : NaN)
    return { p50Us: q(0.5), p99Us: q(0.99), maxUs: s.length ? s[s.length - 1]! / 1000 : NaN, samples: s.length }
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) return `${(err as NodeJS.ErrnoException).code ?? err.name}: ${err.message}`
  return String(err)
}

function pushError(list: string[], msg: string): void {
  if (list.length < 10) list.push(msg)
}

function connectTcp(port: number, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port })
    const timer = setTimeout(() => {
      s.destroy()
      reject(new Error(`connect to ${HOST}:${port} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(timer)
      s.removeListener('error', reject)
      s.setNoDelay(true)
      resolve(s)
    })
    s.once('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })
}

function frame(msgId: number, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + data.length)
  out.writeUInt32BE(msgId, 0)
  out.writeUInt32BE(data.length, 4)
  data.copy(out, 8)
  return out
}

/** Phase control shared by the TCP and UDP runs. */
class Window {
  phase: 'warmup' | 'measure' | 'drain' = 'warmup'
  start = 0
  end = 0
  measured = 0
  private timers: NodeJS.Timeout[] = []
  private onEnd: (() => void) | null = null
  constructor(
    private readonly warmupMs: number,
    private readonly measureMs: number,
    private readonly maxMsgs: number,
  ) {}
  run(): Promise<void> {
    return new Promise((resolve) => {
      this.onEnd = resolve
      this.timers.push(
        setTimeout(() => {
          this.phase = 'measure'
          this.start = nowNs()
          this.timers.push(setTimeout(() => this.stop(), this.measureMs))
        }, this.warmupMs),
      )
    })
  }
  /** Count one reply; returns true when it falls inside the measurement window. */
  count(): boolean {
    if (this.phase !== 'measure') return false
    if (++this.measured >= this.maxMsgs) this.stop()
    return true
  }
  stop(): void {
    if (this.phase === 'drain') return
    if (this.phase === 'warmup') this.start = nowNs()
    this.phase = 'drain'
    this.end = nowNs()
    for (const t of this.timers) clearTimeout(t)
    this.onEnd?.()
  }
}

async function runTcp(o: TcpRunOptions): Promise<RunResult> {
  const frameLen = 8 + o.size
  const payload = Buffer.alloc(o.size)
  for (let i = 0; i < o.size; i++) payload[i] = (i * 31 + 7) & 0xff
  const one = frame(ECHO_MSG_ID, payload)
  const batch = Buffer.allocUnsafe(frameLen * o.inflight)
  for (let i = 0; i < o.inflight; i++) one.copy(batch, i * frameLen)

  const errors: string[] = []
  const lat = new Latencies()
  const win = new Window(o.warmupMs, o.measureMs, o.maxMsgs)
  let bad = 0
  let closed = 0
  let outstandingTotal = 0
  let finished = false
  let drained: (() => void) | null = null

  const sockets = await Promise.all(Array.from({ length: o.conns }, () => connectTcp(o.port)))

  const conns = sockets.map((sock) => {
    const ring = new Float64Array(o.inflight)
    let head = 0
    let tail = 0
    let outstanding = 0
    const hdr = Buffer.alloc(8)
    let hdrFill = 0
    let bodyLeft = -1 // -1: reading a header
    let dead = false

    const issue = (k: number) => {
      const t = nowNs()
      for (let i = 0; i < k; i++) {
        ring[tail] = t
        tail = tail + 1 === o.inflight ? 0 : tail + 1
      }
      outstanding += k
      outstandingTotal += k
      sock.write(k === o.inflight ? batch : batch.subarray(0, k * frameLen))
    }

    const complete = (now: number) => {
      if (outstanding === 0) {
        bad++
        return
      }
      const t = ring[head]!
      head = head + 1 === o.inflight ? 0 : head + 1
      outstanding--
      outstandingTotal--
      if (win.count()) lat.add(now - t)
    }

    const header = (msgId: number, len: number): boolean => {
      if (msgId !== ECHO_MSG_ID || len !== o.size) {
        bad++
        pushError(errors, `bad reply header msgId=${msgId} len=${len} (expected ${ECHO_MSG_ID}, ${o.size})`)
        dead = true
        sock.destroy()
        return false
      }
      return true
    }

    sock.on('data', (chunk: Buffer) => {
      if (dead) return
      const now = nowNs()
      const before = outstanding
      let i = 0
      const n = chunk.length
      while (i < n) {
        if (bodyLeft > 0) {
          const take = Math.min(bodyLeft, n - i)
          const pos = o.size - bodyLeft
          if (chunk.compare(payload, pos, pos + take, i, i + take) !== 0) {
            bad++
            pushError(errors, `reply payload differs from the request at byte ${pos}`)
            dead = true
            sock.destroy()
            return
          }
          bodyLeft -= take
          i += take
          if (bodyLeft === 0) {
            bodyLeft = -1
            complete(now)
          }
          continue
        }
        let msgId: number
        let len: number
        if (hdrFill === 0 && n - i >= 8) {
          msgId = chunk.readUInt32BE(i)
          len = chunk.readUInt32BE(i + 4)
          i += 8
        } else {
          const take = Math.min(8 - hdrFill, n - i)
          chunk.copy(hdr, hdrFill, i, i + take)
          hdrFill += take
          i += take
          if (hdrFill < 8) break
          hdrFill = 0
          msgId = hdr.readUInt32BE(0)
          len = hdr.readUInt32BE(4)
        }
        if (!header(msgId, len)) return
        if (len === 0) complete(now)
        else bodyLeft = len
      }
      const done = before - outstanding
      if (win.phase !== 'drain') {
        if (done > 0) issue(done)
      } else if (outstandingTotal === 0) drained?.()
    })
    sock.on('error', (e) => pushError(errors, `socket error: ${errText(e)}`))
    sock.on('close', () => {
      if (!finished && (win.phase !== 'drain' || outstanding > 0)) {
        closed++
        pushError(errors, `connection closed by the server during the run (${outstanding} requests outstanding)`)
      }
      outstandingTotal -= outstanding
      outstanding = 0
      dead = true
      if (win.phase === 'drain' && outstandingTotal === 0) drained?.()
    })
    return { sock, start: () => issue(o.inflight), outstanding: () => outstanding }
  })

  for (const c of conns) c.start()
  await win.run()
  if (outstandingTotal > 0) {
    await Promise.race([new Promise<void>((r) => (drained = r)), sleep(DRAIN_TIMEOUT_MS)])
  }
  const unanswered = conns.reduce((a, c) => a + c.outstanding(), 0)
  finished = true
  for (const c of conns) c.sock.destroy()
  const seconds = (win.end - win.start) / 1e9
  return { msgs: win.measured, seconds, msgsPerSec: win.measured / seconds, ...lat.summary(), unanswered, lost: 0, late: 0, bad, closed, errors }
}

async function openUdp(port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject)
    s.bind(0, HOST, () => {
      s.connect(port, HOST, () => {
        s.removeListener('error', reject)
        resolve()
      })
    })
  })
  return s
}

async function runUdp(o: UdpRunOptions): Promise<RunResult> {
  if (o.size < 6) throw new Error('udp payload must be at least 6 bytes (seq u32 + slot u16)')
  const errors: string[] = []
  const lat = new Latencies()
  const win = new Window(o.warmupMs, o.measureMs, o.maxMsgs)
  let bad = 0
  let lost = 0
  let late = 0
  let outstandingTotal = 0
  let drained: (() => void) | null = null
  const lossNs = o.lossTimeoutMs * 1e6

  const filler = Buffer.alloc(4 + o.size - 10, 0x5a)
  const sockets = await Promise.all(Array.from({ length: o.sockets }, () => openUdp(o.port)))
  const peers = sockets.map((sock) => {
    // Datagram: [msgId u32][seq u32][slot u16][filler]; one buffer per slot,
    // rewritten only after its previous send was answered or given up.
    const bufs = Array.from({ length: o.inflight }, (_, slot) => {
      const b = Buffer.alloc(4 + o.size, 0x5a)
      b.writeUInt32BE(ECHO_MSG_ID, 0)
      b.writeUInt16BE(slot, 8)
      return b
    })
    const sentAt = new Float64Array(o.inflight)
    const seqOf = new Uint32Array(o.inflight)
    const busy = new Uint8Array(o.inflight)
    let seq = 0
    const issue = (slot: number) => {
      seq = (seq + 1) >>> 0
      seqOf[slot] = seq
      bufs[slot]!.writeUInt32BE(seq, 4)
      sentAt[slot] = nowNs()
      busy[slot] = 1
      outstandingTotal++
      sock.send(bufs[slot]!)
    }
    sock.on('message', (msg: Buffer) => {
      const now = nowNs()
      if (msg.length !== 4 + o.size || msg.readUInt32BE(0) !== ECHO_MSG_ID) {
        bad++
        pushError(errors, `bad datagram: ${msg.length} bytes, msgId ${msg.length >= 4 ? msg.readUInt32BE(0) : '?'}`)
        return
      }
      if (msg.compare(filler, 0, filler.length, 10) !== 0) {
        bad++
        pushError(errors, 'bad datagram: payload differs from the request')
        return
      }
      const s = msg.readUInt32BE(4)
      const slot = msg.readUInt16BE(8)
      if (slot >= o.inflight || !busy[slot] || seqOf[slot] !== s) {
        late++
        return
      }
      busy[slot] = 0
      outstandingTotal--
      if (win.count()) lat.add(now - sentAt[slot]!)
      if (win.phase !== 'drain') issue(slot)
      else if (outstandingTotal === 0) drained?.()
    })
    sock.on('error', (e) => pushError(errors, `udp error: ${errText(e)}`))
    const sweep = (now: number) => {
      for (let slot = 0; slot < o.inflight; slot++) {
        if (busy[slot] && now - sentAt[slot]! > lossNs) {
          lost++
          busy[slot] = 0
          outstandingTotal--
          if (win.phase !== 'drain') issue(slot)
        }
      }
    }
    return {
      sock,
      start: () => {
        for (let slot = 0; slot < o.inflight; slot++) issue(slot)
      },
      sweep,
      outstanding: () => busy.reduce((a, b) => a + b, 0),
    }
  })
  const sweeper = setInterval(() => {
    const now = nowNs()
    for (const p of peers) p.sweep(now)
  }, Math.max(10, Math.floor(o.lossTimeoutMs / 4)))

  for (const p of peers) p.start()
  await win.run()
  if (outstandingTotal > 0) {
    await Promise.race([new Promise<void>((r) => (drained = r)), sleep(Math.min(DRAIN_TIMEOUT_MS, o.lossTimeoutMs))])
  }
  clearInterval(sweeper)
  const unanswered = peers.reduce((a, p) => a + p.outstanding(), 0)
  for (const p of peers) p.sock.close()
  const seconds = (win.end - win.start) / 1e9
  return { msgs: win.measured, seconds, msgsPerSec: win.measured / seconds, ...lat.summary(), unanswered, lost, late, bad, closed: 0, errors }
}

// ---- idle connections -------------------------------------------------------

let idle: net.Socket[] = []

/** Open `count` connections, each doing one echo round trip (so the server has
 * accepted it and set it up), then leave them idle. */
async function idleOpen(o: IdleOpenOptions): Promise<IdleOpenResult> {
  const t0 = Date.now()
  const errors: string[] = []
  let failed = 0
  let next = 0
  const ping = frame(ECHO_MSG_ID, Buffer.from('idle-png'))
  const deadline = t0 + o.timeoutMs

  const openOne = async (): Promise<void> => {
    const sock = await connectTcp(o.port, Math.max(1000, deadline - Date.now()))
    await new Promise<void>((resolve, reject) => {
      let got = 0
      const timer = setTimeout(() => reject(new Error('no echo within the deadline')), Math.max(1000, deadline - Date.now()))
      const onData = (c: Buffer) => {
        got += c.length
        if (got >= ping.length) {
          clearTimeout(timer)
          sock.removeListener('data', onData)
          resolve()
        }
      }
      sock.on('data', onData)
      sock.once('close', () => {
        clearTimeout(timer)
        reject(new Error('closed by the server before the echo'))
      })
      sock.write(ping)
    }).catch((e) => {
      sock.destroy()
      throw e
    })
    sock.on('error', () => {})
    idle.push(sock)
  }

  const worker = async () => {
    while (next < o.count && Date.now() < deadline) {
      next++
      try {
        await openOne()
      } catch (e) {
        failed++
        pushError(errors, errText(e))
        if (failed > 100) return
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.count) }, worker))
  const opened = idle.filter((s) => !s.destroyed).length
  return { opened, failed, ms: Date.now() - t0, errors }
}

async function idleClose(): Promise<{ closed: number }> {
  const list = idle
  idle = []
  const closes = list.map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()))))
  for (const s of list) s.destroy()
  await Promise.race([Promise.all(closes), sleep(5000)])
  return { closed: list.length }
}

// ---- correctness probe -------------------------------------------------------

/** Echo must return exactly what was sent, also when frames are split
 * awkwardly across writes, and UDP must echo one datagram. */
async function probe(o: ProbeOptions): Promise<ProbeResult> {
  const problems: string[] = []
  const payloads = [Buffer.alloc(0), Buffer.from('x'), Buffer.from('hello enet'), Buffer.alloc(5000, 0x61)]
  payloads[3]!.write('tail', 4996)
  const frames = payloads.map((p) => frame(ECHO_MSG_ID, p))
  const all = Buffer.concat(frames)
  const sock = await connectTcp(o.tcpPort)
  try {
    const got: Buffer[] = []
    let len = 0
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tcp probe: got ${len} of ${all.length} bytes within 3 s`)), 3000)
      sock.on('data', (c: Buffer) => {
        got.push(c)
        len += c.length
        if (len >= all.length) {
          clearTimeout(timer)
          resolve()
        }
      })
      sock.on('close', () => reject(new Error(`tcp probe: connection closed after ${len} of ${all.length} bytes`)))
      sock.on('error', () => {})
    })
    // Split inside a header, then inside a body, then the rest.
    for (const cut of [[0, 5], [5, 21], [21, all.length]] as const) {
      sock.write(all.subarray(cut[0], cut[1]))
      await sleep(20)
    }
    await done
    const back = Buffer.concat(got)
    if (!back.equals(all)) problems.push(`tcp probe: echo differs (got ${back.length} bytes, expected ${all.length})`)
  } catch (e) {
    problems.push(errText(e))
  } finally {
    sock.destroy()
  }

  const u = await openUdp(o.udpPort)
  try {
    const dg = Buffer.concat([Buffer.from([0, 0, 0, ECHO_MSG_ID]), Buffer.from('udp probe')])
    const retries: NodeJS.Timeout[] = []
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('udp probe: no reply within 2 s (3 tries)')), 2000)
      u.once('message', (m: Buffer) => {
        clearTimeout(timer)
        resolve(m)
      })
      u.send(dg)
      retries.push(setTimeout(() => u.send(dg), 500), setTimeout(() => u.send(dg), 1000))
    }).finally(() => retries.forEach(clearTimeout))
    if (!reply.equals(dg)) problems.push(`udp probe: echo differs: ${reply.toString('hex')} vs ${dg.toString('hex')}`)
  } catch (e) {
    problems.push(errText(e))
  } finally {
    u.close()
  }
  return { ok: problems.length === 0, problems }
}

// ---- IPC loop ------------------------------------------------------------------

exitWithParent()
let queue: Promise<void> = Promise.resolve()
process.on('message', (cmd: LoadCommand) => {
  queue = queue.then(async () => {
    try {
      let value: unknown
      switch (cmd.type) {
        case 'tcp':
          value = await runTcp(cmd)
          break
        case 'udp':
          value = await runUdp(cmd)
          break
        case 'idle-open':
          value = await idleOpen(cmd)
          break
        case 'idle-close':
          value = await idleClose()
          break
        case 'probe':
          value = await probe(cmd)
          break
      }
      send({ type: 'result', id: cmd.id, ok: true, value })
    } catch (e) {
      send({ type: 'result', id: cmd.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
    }
  })
})
send({ type: 'ready' })
