// npm run bench:middleware [-- --rounds N --measure MS --conns N --calls N]
//
// What a route pays for middleware, plain route vs the same route behind one
// pass-through middleware, measured in one run:
//   call  the compiled routes called directly in a loop (ns per request): the
//         cost of the chain alone, without sockets or dispatch around it;
//   tcp   one enet server on 127.0.0.1, msgId 1 plain, msgId 2 with the
//         middleware; closed-loop echo over loopback (msgs/s), rounds
//         alternating plain, middleware, plain, …; best round of each.
// A route without middleware compiles to its handler itself (checked below),
// so "plain" is exactly what every route cost before middleware existed.
// Output: a table, the ratios, then one JSON line with everything.
import net from 'node:net'
import { parseArgs } from 'node:util'
import { createServer, tlvBE, type Middleware, type Request } from '../core/index.ts'
import { compileRoute } from '../core/engine/router.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    measure: { type: 'string', default: '1500' },
    conns: { type: 'string', default: '8' },
    calls: { type: 'string', default: '2000000' },
  },
})
const int = (name: string, v: string, min: number) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench:middleware: --${name} expects an integer >= ${min}, got ${v}`)
    process.exit(2)
  }
  return n
}
const ROUNDS = int('rounds', values.rounds!, 1)
const MEASURE_MS = int('measure', values.measure!, 100)
const CONNS = int('conns', values.conns!, 1)
const CALLS = int('calls', values.calls!, 1000)
const INFLIGHT = 16
const PAYLOAD = Buffer.alloc(64, 0x61)

const echo = (req: Request) => void req.reply(req.msgId, req.data)
const pass: Middleware = (_req, next) => next()

// ---- call: the compiled chain alone ---------------------------------------------

function nsPerCall(run: (req: Request) => unknown): number {
  let replies = 0
  const req = { msgId: 1, data: PAYLOAD, reply: () => (replies++, true) } as unknown as Request
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < CALLS; i++) run(req)
  const ns = Number(process.hrtime.bigint() - t0) / CALLS
  if (replies !== CALLS) throw new Error(`expected ${CALLS} replies, got ${replies}`)
  return ns
}

const plainRoute = compileRoute(1, echo, 'bench')
const chainedRoute = compileRoute(2, [pass, echo], 'bench')
if (plainRoute.run !== echo) throw new Error('a route without middleware no longer compiles to its handler')
const call = { plain: Infinity, middleware: Infinity }
for (let r = 0; r < ROUNDS + 1; r++) {
  // Round 0 warms both up and is not counted.
  const p = nsPerCall(plainRoute.run)
  const m = nsPerCall(chainedRoute.run)
  if (r === 0) continue
  call.plain = Math.min(call.plain, p)
  call.middleware = Math.min(call.middleware, m)
}

// ---- tcp: the whole path over loopback ------------------------------------------

const server = createServer({
  tcp: { host: '127.0.0.1', port: 0 },
  udp: { enabled: false },
  plugins: { dirs: [], watch: false },
  log: { level: 'silent' },
})
server.route(1, echo)
server.route(2, [pass, echo])
const port = (await server.listen()).tcp!.port

/** Closed loop: every reply sends the next request; counts replies for `ms`. */
async function loadRound(msgId: number, ms: number): Promise<number> {
  const frame = tlvBE.encode(msgId, PAYLOAD)
  let replies = 0
  let stop = false
  const sockets = await Promise.all(
    Array.from({ length: CONNS }, () => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s))
      s.once('error', reject)
    })),
  )
  for (const s of sockets) {
    s.setNoDelay(true)
    const d = tlvBE.createDecoder(1 << 16)
    s.on('data', (chunk: Buffer) => {
      d.push(chunk)
      let n = 0
      while (d.next()) n++
      replies += n
      if (!stop) for (let i = 0; i < n; i++) s.write(frame)
    })
    for (let i = 0; i < INFLIGHT; i++) s.write(frame)
  }
  // Warm-up: a fifth of the round, not counted.
  await new Promise((r) => setTimeout(r, ms / 5))
  const start = replies
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, ms))
  const rate = ((replies - start) * 1000) / (performance.now() - t0)
  stop = true
  for (const s of sockets) s.destroy()
  return rate
}

const tcp = { plain: 0, middleware: 0 }
const rounds: Array<{ variant: string; msgsPerSec: number }> = []
for (let r = 0; r < ROUNDS; r++) {
  for (const [variant, msgId] of [['plain', 1], ['middleware', 2]] as const) {
    const rate = await loadRound(msgId, MEASURE_MS)
    rounds.push({ variant, msgsPerSec: Math.round(rate) })
    tcp[variant] = Math.max(tcp[variant], rate)
  }
}
await server.close()

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
console.log(`route middleware cost (${ROUNDS} rounds; call: ${fmt(CALLS)} calls per round; tcp: ${CONNS} conns x ${INFLIGHT} in flight x ${PAYLOAD.length} B, ${MEASURE_MS} ms per round)`)
console.log('')
console.log('                     plain route     1 middleware    middleware/plain')
console.log(`call (ns/request)    ${call.plain.toFixed(1).padStart(11)}     ${call.middleware.toFixed(1).padStart(12)}    ${(call.middleware / call.plain).toFixed(2).padStart(16)}`)
console.log(`tcp (msgs/s)         ${fmt(tcp.plain).padStart(11)}     ${fmt(tcp.middleware).padStart(12)}    ${(tcp.middleware / tcp.plain).toFixed(3).padStart(16)}`)
console.log('')
console.log(`a route without middleware compiles to its own handler: ${plainRoute.run === echo ? 'yes' : 'no'}`)
console.log(JSON.stringify({ bench: 'middleware', rounds: ROUNDS, calls: CALLS, conns: CONNS, inflight: INFLIGHT, measureMs: MEASURE_MS, call, tcp, tcpRounds: rounds, ratios: { call: call.middleware / call.plain, tcp: tcp.middleware / tcp.plain } }))
