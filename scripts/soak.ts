// Soak: mixed TCP and UDP echo load with connection churn against `enet start`
// in a child process, while the echo plugin is rewritten every 2 s and the
// config every 10 s. Every request carries a unique id; the run counts what
// was sent, answered, lost, duplicated, and connections the server dropped,
// and compares the server's RSS at start and end.
//
//   npm run soak -- --seconds 20
import { spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { adminRequest } from '../core/admin.ts'
import { enetDatagram, tlvBE } from '../core/codec.ts'

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    seconds: { type: 'string', default: '60' },
    'tcp-workers': { type: 'string', default: '6' },
    'udp-workers': { type: 'string', default: '3' },
  },
})
const SECONDS = Number(values.seconds)
const TCP_WORKERS = Number(values['tcp-workers'])
const UDP_WORKERS = Number(values['udp-workers'])
if (!(SECONDS > 0) || !(TCP_WORKERS >= 0) || !(UDP_WORKERS >= 0)) {
  console.error('usage: soak [--seconds N] [--tcp-workers N] [--udp-workers N]')
  process.exit(2)
}

const ECHO = 1
const TCP_INFLIGHT = 8
const UDP_INFLIGHT = 4
/** Generous: a request unanswered this long is a real loss, not a slow box. */
const TCP_TIMEOUT_MS = 5_000
const UDP_TIMEOUT_MS = 5_000
const PLUGIN_EVERY_MS = 2_000
const CONFIG_EVERY_MS = 10_000
const MiB = 1024 * 1024

const BIN = fileURLToPath(new URL('../bin/enet.mjs', import.meta.url))
const BUNDLED = fileURLToPath(new URL('../plugins', import.meta.url))

const stats = {
  sent: { tcp: 0, udp: 0 },
  answered: { tcp: 0, udp: 0 },
  lost: { tcp: 0, udp: 0 },
  duplicated: 0,
  /** Answers whose id was never sent, or whose data was not the echo. */
  corrupt: 0,
  connections: 0,
  /** Closes the client did not ask for. */
  dropped: 0,
  udpSockets: 0,
  byTag: {} as Record<string, number>,
  pluginWrites: 0,
  configWrites: 0,
}

// ---- the server project ---------------------------------------------------

const root = mkdtempSync(join(tmpdir(), 'enet-soak-'))
mkdirSync(join(root, 'plugins', 'echo'), { recursive: true })
const configFile = join(root, 'enet.config.ts')
const pluginFile = join(root, 'plugins', 'echo', 'index.ts')

function writeConfig(n: number): void {
  const tag = n % 2 === 0 ? 'a' : 'b'
  const level = n % 2 === 0 ? 'info' : 'warn'
  // Through a rename, so the watcher never reads half a file.
  const tmp = join(root, `.enet.config.${n}.tmp`)
  writeFileSync(
    tmp,
    `import { defineConfig } from 'enet'
// revision ${n}
export default defineConfig({
  name: 'soak',
  // UDP sessions of closed client sockets expire in seconds, not the default minute: bounded peers.
  limits: { idleTimeoutMs: 5_000 },
  log: { level: '${level}', pretty: false },
  plugins: {
    dirs: [${JSON.stringify(BUNDLED)}, './plugins'],
    debounceMs: 50,
    options: { echo: { tag: '${tag}' }, logging: { requests: false } },
  },
})
`,
  )
  renameSync(tmp, configFile)
}

function writePlugin(n: number): void {
  // Half the saves in place (truncate + write), half through a rename.
  const source = `import { definePlugin } from 'enet'
// revision ${n}
export default definePlugin({
  name: 'echo',
  options: { tag: '?' },
  routes: (ctx) => {
    const prefix = Buffer.from(String(ctx.options.tag) + '|')
    return { ${ECHO}: (req) => void req.reply(${ECHO}, Buffer.concat([prefix, req.data])) }
  },
})
`
  if (n % 2 === 0) writeFileSync(pluginFile, source)
  else {
    const tmp = join(root, 'plugins', `.echo.${n}.tmp`)
    writeFileSync(tmp, source)
    renameSync(tmp, pluginFile)
  }
}

writeConfig(0)
writePlugin(0)

const child = spawn(process.execPath, [BIN, 'start', '--config', configFile, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0'], {
  cwd: root,
  env: { ...process.env, ENET_TCP: '', ENET_UDP: '', ENET_LOG_LEVEL: '', ENET_PLUGINS: '' },
  stdio: ['ignore', 'pipe', 'pipe'],
})
let stdoutRest = ''
const serverLog = { reloaded: 0, failed: 0, configReloaded: 0, errors: [] as string[] }
let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
let stopping = false
const listeningLine = new Promise<{ tcp: number; udp: number }>((resolve, reject) => {
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    const lines = (stdoutRest + s).split('\n')
    stdoutRest = lines.pop()!
    for (const line of lines) {
      const m = /^enet listening tcp [\d.]+:(\d+) udp [\d.]+:(\d+)$/.exec(line)
      if (m) resolve({ tcp: Number(m[1]), udp: Number(m[2]) })
      if (!line.startsWith('{')) continue
      const l = JSON.parse(line) as { level: number; msg: string; outcome?: string }
      if (l.msg === 'plugin reloaded') serverLog.reloaded++
      else if (l.outcome === 'failed') serverLog.failed++
      else if (l.msg === 'config reloaded') serverLog.configReloaded++
      if (l.level >= 50) serverLog.errors.push(line)
    }
  })
  child.on('exit', (code, signal) => {
    exited = { code, signal }
    if (!stopping) console.error(`soak: server exited unexpectedly (code ${code}, signal ${signal})`)
    reject(new Error(`server exited with ${code} before listening`))
  })
})
let stderr = ''
child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s))
listeningLine.catch(() => {})

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}

// ---- clients -----------------------------------------------------------------

let running = true
let nextId = 0

/** What a reply must carry: `<tag>|<id>`. Returns the id, or null when malformed. */
function idOf(data: Buffer): string | null {
  const text = data.toString('utf8')
  const bar = text.indexOf('|')
  if (bar < 0) return null
  const tag = text.slice(0, bar)
  stats.byTag[tag] = (stats.byTag[tag] ?? 0) + 1
  return text.slice(bar + 1)
}

interface Waiting {
  timer: NodeJS.Timeout
  resolve(): void
}

/** Ids are unique per run; a session remembers those it got answers for, so a second answer is a duplicate. */
function answer(waiting: Map<string, Waiting>, answeredIds: Set<string>, data: Buffer, proto: 'tcp' | 'udp'): void {
  const id = idOf(data)
  if (id === null) return void stats.corrupt++
  if (answeredIds.has(id)) return void stats.duplicated++
  const w = waiting.get(id)
  if (!w) return void stats.corrupt++
  answeredIds.add(id)
  waiting.delete(id)
  clearTimeout(w.timer)
  stats.answered[proto]++
  w.resolve()
}

/** One TCP connection: a random number of requests, TCP_INFLIGHT at a time, then a close we ask for. */
async function tcpSession(port: number): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port })
  socket.setNoDelay(true)
  stats.connections++
  let closingOurselves = false
  const waiting = new Map<string, Waiting>()
  const answeredIds = new Set<string>()
  const decoder = tlvBE.createDecoder(64 * 1024)
  socket.on('data', (chunk: Buffer) => {
    decoder.push(chunk)
    while (decoder.next()) answer(waiting, answeredIds, decoder.data, 'tcp')
  })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) =>
    socket.on('close', () => {
      if (!closingOurselves) stats.dropped++
      for (const [id, w] of waiting) {
        clearTimeout(w.timer)
        waiting.delete(id)
        stats.lost.tcp++
        w.resolve()
      }
      resolve()
    }),
  )
  await new Promise<void>((resolve) => {
    socket.once('connect', resolve)
    socket.once('close', resolve)
  })
  const total = 5 + Math.floor(Math.random() * 60)
  let sent = 0
  const lane = async () => {
    while (running && sent < total && !socket.destroyed) {
      sent++
      const id = `t${nextId++}`
      stats.sent.tcp++
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id)
          stats.lost.tcp++
          resolve()
        }, TCP_TIMEOUT_MS)
        waiting.set(id, { timer, resolve })
        socket.write(tlvBE.encode(ECHO, Buffer.from(id)))
      })
    }
  }
  await Promise.all(Array.from({ length: TCP_INFLIGHT }, lane))
  closingOurselves = true
  socket.end()
  await closed
}

/** One UDP socket (a server-side peer session) for a random number of requests, UDP_INFLIGHT at a time. */
async function udpSession(port: number): Promise<void> {
  const socket = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve))
  stats.udpSockets++
  const waiting = new Map<string, Waiting>()
  const answeredIds = new Set<string>()
  const out = { msgId: 0, data: Buffer.alloc(0) }
  socket.on('message', (msg) => {
    if (msg.length >= 4 && enetDatagram.decode(msg, out) && out.msgId === ECHO) answer(waiting, answeredIds, out.data, 'udp')
    else stats.corrupt++
  })
  const total = 2_000 + Math.floor(Math.random() * 4_000)
  let sent = 0
  const lane = async () => {
    while (running && sent < total) {
      sent++
      const id = `u${nextId++}`
      stats.sent.udp++
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id)
          stats.lost.udp++
          resolve()
        }, UDP_TIMEOUT_MS)
        waiting.set(id, { timer, resolve })
        socket.send(enetDatagram.encode(ECHO, Buffer.from(id)), port, '127.0.0.1')
      })
    }
  }
  await Promise.all(Array.from({ length: UDP_INFLIGHT }, lane))
  await new Promise<void>((resolve) => socket.close(() => resolve()))
}

async function worker(session: () => Promise<void>): Promise<void> {
  while (running) await session()
}

// ---- the run -------------------------------------------------------------------

const fmt = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`

async function main(): Promise<number> {
  const ports = await listeningLine
  const adminSock = join(root, '.enet', 'admin.sock')
  const rssStart = rssOf(child.pid!)
  console.log(`soak: server pid ${child.pid} tcp ${ports.tcp} udp ${ports.udp}; ${SECONDS} s, ${TCP_WORKERS} TCP + ${UDP_WORKERS} UDP workers; RSS ${fmt(rssStart)}`)

  let pluginRev = 0
  let configRev = 0
  const pluginTimer = setInterval(() => {
    writePlugin(++pluginRev)
    stats.pluginWrites++
  }, PLUGIN_EVERY_MS)
  const configTimer = setInterval(() => {
    writeConfig(++configRev)
    stats.configWrites++
  }, CONFIG_EVERY_MS)
  const t0 = performance.now()
  const progress = setInterval(() => {
    const s = Math.round((performance.now() - t0) / 1000)
    console.log(
      `  ${s}s sent tcp ${stats.sent.tcp} udp ${stats.sent.udp}, answered ${stats.answered.tcp + stats.answered.udp}, lost ${stats.lost.tcp + stats.lost.udp}, dropped ${stats.dropped}, conns ${stats.connections}, reloads ${serverLog.reloaded}, RSS ${fmt(rssOf(child.pid!))}`,
    )
  }, 5_000)

  const workers = [
    ...Array.from({ length: TCP_WORKERS }, () => worker(() => tcpSession(ports.tcp))),
    ...Array.from({ length: UDP_WORKERS }, () => worker(() => udpSession(ports.udp))),
  ]
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, SECONDS * 1000)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  running = false
  clearInterval(pluginTimer)
  clearInterval(configTimer)
  clearInterval(progress)
  // In-flight requests finish or time out; every session closes itself.
  await Promise.all(workers)

  const crashed = exited !== null
  const rssEnd = crashed ? NaN : rssOf(child.pid!)
  let echoVersion: unknown = null
  if (!crashed) {
    const r = await adminRequest(adminSock, { cmd: 'plugins' }).catch((err: Error) => ({ ok: false, error: err.message }))
    echoVersion = (r as { plugins?: Array<{ name: string; version: number }> }).plugins?.find((p) => p.name === 'echo')?.version ?? null
    stopping = true
    child.kill('SIGTERM')
    await new Promise<void>((resolve) => (exited ? resolve() : child.once('exit', () => resolve())))
  }
  const lost = stats.lost.tcp + stats.lost.udp
  const rssGrewTooMuch = !(rssEnd <= 2 * rssStart + 50 * MiB)
  const summary = {
    seconds: SECONDS,
    sent: stats.sent,
    answered: stats.answered,
    lost: stats.lost,
    duplicated: stats.duplicated,
    corrupt: stats.corrupt,
    tcpConnections: stats.connections,
    droppedByServer: stats.dropped,
    udpSockets: stats.udpSockets,
    repliesByTag: stats.byTag,
    pluginWrites: stats.pluginWrites,
    pluginReloads: serverLog.reloaded,
    pluginReloadFailures: serverLog.failed,
    echoVersion,
    configWrites: stats.configWrites,
    configReloads: serverLog.configReloaded,
    serverErrorLines: serverLog.errors.length,
    rssStart,
    rssEnd,
    crashed,
    exit: exited,
  }
  console.log('')
  console.log(`soak summary (${SECONDS} s)`)
  console.log(`  requests   tcp sent ${stats.sent.tcp}, answered ${stats.answered.tcp}, lost ${stats.lost.tcp}`)
  console.log(`             udp sent ${stats.sent.udp}, answered ${stats.answered.udp}, lost ${stats.lost.udp}`)
  console.log(`  duplicated ${stats.duplicated}, corrupt ${stats.corrupt}`)
  console.log(`  churn      ${stats.connections} TCP connections, ${stats.dropped} dropped by the server; ${stats.udpSockets} UDP sockets`)
  console.log(`  reloads    plugin: ${stats.pluginWrites} writes, ${serverLog.reloaded} reloads (info-level lines), ${serverLog.failed} failed, echo now v${echoVersion}`)
  console.log(`             config: ${stats.configWrites} writes, ${serverLog.configReloaded} reloads; replies by tag ${JSON.stringify(stats.byTag)}`)
  console.log(`  server     RSS ${fmt(rssStart)} → ${fmt(rssEnd)}; ${serverLog.errors.length} error lines; ${crashed ? 'CRASHED' : `stopped with ${JSON.stringify(exited)}`}`)
  for (const line of serverLog.errors.slice(0, 5)) console.log(`    ${line}`)
  if (stderr.trim()) console.log(`  server stderr: ${stderr.trim().split('\n').slice(0, 5).join(' | ')}`)
  console.log(JSON.stringify(summary))
  const failed = crashed || lost > 0 || stats.duplicated > 0 || stats.corrupt > 0 || stats.dropped > 0 || rssGrewTooMuch
  console.log(failed ? 'soak: FAILED' : 'soak: ok')
  return failed ? 1 : 0
}

main()
  .then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(`soak: ${(err as Error).message}\n${stderr}`)
      process.exitCode = 1
    },
  )
  .finally(() => {
    if (exited === null) child.kill('SIGKILL')
    rmSync(root, { recursive: true, force: true })
  })
