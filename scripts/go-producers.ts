// 1,000 Go enet producers against enet with its shipped defaults (bundled
// plugins, loopback): each beats from a fresh UDP socket once a second and
// closes it, as demo/dataNode.go does. Prints the UDP sessions the server
// holds (peak and at the end), how they ended, and whether a Go consumer's
// one long-lived session kept being answered.
//
//   npm run go-producers                       # 1,000 producers for 10 s
//   npm run go-producers -- --producers 2000 --seconds 15 --one-shot-ms 60000
import dgram from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startApp } from '../core/index.ts'

const PLUGINS = fileURLToPath(new URL('../plugins', import.meta.url))

const { values } = parseArgs({
  options: {
    producers: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    'one-shot-ms': { type: 'string' },
  },
})
const producers = Number(values.producers)
const seconds = Number(values.seconds)
if (!Number.isInteger(producers) || producers < 1 || producers > 5_000) throw new Error(`--producers: expected 1-5000, got "${values.producers}"`)
if (!Number.isInteger(seconds) || seconds < 1 || seconds > 120) throw new Error(`--seconds: expected 1-120, got "${values.seconds}"`)
const oneShotMs = values['one-shot-ms'] === undefined ? undefined : Number(values['one-shot-ms'])

const cwd = mkdtempSync(join(tmpdir(), 'enet-go-producers-'))
const app = await startApp({
  cwd,
  logStream: new Writable({ write: (_c, _e, cb) => cb() }),
  flags: {
    tcp: { host: '127.0.0.1', port: 0 },
    // On loopback every producer shares 127.0.0.1; real ones beat from their own IPs, each under heartbeat's per-IP rate.
    udp: { host: '127.0.0.1', port: 0, rateLimits: { '10': false }, ...(oneShotMs === undefined ? {} : { oneShotIdleMs: oneShotMs }) },
    admin: { socket: false },
    log: { level: 'warn' },
    plugins: { dirs: [PLUGINS], watch: false, strict: true },
  },
})
const server = app.server
const udpPort = server.address().udp!.port

function datagram(msgId: number, text: string): Buffer {
  const body = Buffer.from(text)
  const out = Buffer.alloc(4 + body.length)
  out.writeUInt32BE(msgId, 0)
  body.copy(out, 4)
  return out
}

/** net.DialUDP, Write, Close. */
async function beat(i: number): Promise<void> {
  const s = dgram.createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  await new Promise<void>((r) => s.send(datagram(10, `127.0.0.1:${20_000 + i}`), udpPort, '127.0.0.1', () => r()))
  await new Promise<void>((r) => s.close(() => r()))
}

// A Go consumer: one socket, asks for the list every 2 s (demo/apiNode.go).
const consumer = dgram.createSocket('udp4')
await new Promise<void>((r) => consumer.bind(0, '127.0.0.1', r))
let answers = 0
consumer.on('message', () => answers++)
const consumerPort = consumer.address().port
let consumerSessions = 0
let consumerStops = 0
server.hooks.onConnStart.tap('go-producers', (c) => void (c.remote.port === consumerPort && consumerSessions++))
server.hooks.onConnStop.tap('go-producers', (c) => void (c.remote.port === consumerPort && consumerStops++))
let asked = 0
const ask = () => {
  asked++
  consumer.send(datagram(11, '让我访问!!!'), udpPort, '127.0.0.1')
}

let peak = 0
let sent = 0
const t0 = performance.now()
// Each producer beats at its own phase of the second; at most `producers` sockets a second.
const tick = setInterval(() => {
  const due = Math.min(producers * seconds, Math.floor(((performance.now() - t0) / 1000) * producers))
  while (sent < due) void beat(sent++ % producers)
  peak = Math.max(peak, server.connections.size)
}, 1)
ask()
const poll = setInterval(ask, 2_000)
await new Promise((r) => setTimeout(r, seconds * 1000))
clearInterval(tick)
clearInterval(poll)
while (sent < producers * seconds) void beat(sent++ % producers)
ask()
await new Promise((r) => setTimeout(r, 200))
const c = server.counters
const heartbeat = app.plugins.api<{ size: number }>('heartbeat')!
console.log(`${producers} Go producers × ${seconds} s (a fresh socket per beat): ${sent} beats, udp.oneShotIdleMs ${server.config.udp.oneShotIdleMs}, udp.maxPeers ${server.config.udp.maxPeers}`)
console.log(`UDP sessions: peak ${peak}, at the end ${server.connections.size}; ended one-shot-timeout ${c['closed.one-shot-timeout']}, idle-timeout ${c['closed.idle-timeout']}, evicted ${c['closed.peer-evicted']}; dropped max-peers ${c['drop.max-peers']}, rate-limit ${c['drop.rate-limit']}, intake ${c['drop.udp-intake']}`)
console.log(`live nodes ${heartbeat.size}; Go consumer: ${answers} answers to ${asked} lists, ${consumerSessions} session(s), ${consumerStops} ended`)
consumer.close()
await app.close()
rmSync(cwd, { recursive: true, force: true })
