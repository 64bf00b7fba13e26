// Soak: mixed TCP and UDP echo load with connection churn against `enet start`
// in a child process, while the echo plugin is rewritten every 2 s and the
// config every 10 s. Every request carries a unique id; the run counts what
// was sent, answered, lost, duplicated, and connections the server dropped,
// and compares the server's RSS at start and end.
//
// Reloads are counted from the server's state, not from its log lines: every
// other config write sets the log level to `warn`, which hides the info-level
// 'plugin reloaded' / 'config reloaded' lines (counting those undercounted).
// The echo plugin written here records, in ctx.data (which outlives its
// versions), one entry per version: [version, source revision, config
// revision from its options], and counts the onConfigEvent events it sees.
// Route PROBE returns that record; the admin socket gives the version the
// host reports. Neither depends on the log level, so the level keeps
// switching between info and warn, which tests that live setting too.
//
//   npm run soak -- --seconds 20
import dgram from 'node:dgram'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { adminRequest } from '../core/runtime/admin.ts'
import { enetDatagram, tlvBE } from '../core/wire/codec.ts'
import { startEnetChild } from './enet-child.ts'

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
/** The echo plugin's record of its versions and of config events (JSON). */
const PROBE = 9
const TCP_INFLIGHT = 8
const UDP_INFLIGHT = 4
/** Generous: a request unanswered this long is a real loss, not a slow box. */
const TCP_TIMEOUT_MS = 5_000
const UDP_TIMEOUT_MS = 5_000
const PLUGIN_EVERY_MS = 2_000
/** Plugin writes at 1, 3, 5… s and config writes at 10, 20… s: never the same moment, so each reload has one cause. */
const PLUGIN_OFFSET_MS = 1_000
const CONFIG_EVERY_MS = 10_000
/** After the last write, how long the server may take to apply it before the run counts it as not applied. */
const SETTLE_MS = 10_000
const MiB = 1024 * 1024

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
  /** Plugin writes whose source differs from the one before (each carries its revision, so all of them). */
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
  // Switching the level is part of what is soaked; nothing below counts log lines at info.
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
    // rev: every config write changes the echo plugin's options, so each applied config reload makes a new echo version.
    options: { echo: { tag: '${tag}', rev: ${n} }, logging: { requests: false } },
  },
})
`,
  )
  renameSync(tmp, configFile)
}

/** What the echo plugin reports on PROBE. */
interface EchoRecord {
  /** [version, source revision, config revision], one per version whose setup ran (a version number repeats if its activation failed). */
  versions: Array<[number, number, number]>
  configEvents: { applied: number; failed: number }
}

let lastSource = ''

/** Returns whether the source changed (it always does: it carries its revision). */
function writePlugin(n: number): boolean {
  // Half the saves in place (truncate + write), half through a rename.
  const source = `import { definePlugin } from 'enet'
// revision ${n}
const REVISION = ${n}
export default definePlugin({
  name: 'echo',
  options: { tag: '?', rev: -1 },
  setup: (ctx) => {
    const data = ctx.data
    data.versions ??= []
    data.versions.push([ctx.version, REVISION, Number(ctx.options.rev)])
    data.configEvents ??= { applied: 0, failed: 0 }
    // Taps leave with this version and the next one's arrive in the same synchronous swap: each event counts once.
    ctx.hooks.onConfigEvent.tap('soak-count', (e) => void data.configEvents[e.outcome]++)
  },
  routes: (ctx) => {
    const prefix = Buffer.from(String(ctx.options.tag) + '|')
    return {
      ${ECHO}: (req) => void req.reply(${ECHO}, Buffer.concat([prefix, req.data])),
      ${PROBE}: (req) => void req.reply(${PROBE}, JSON.stringify(ctx.data)),
    }
  },
})
`
  const changed = source !== lastSource
  lastSource = source
  if (n % 2 === 0) writeFileSync(pluginFile, source)
  else {
    const tmp = join(root, 'plugins', `.echo.${n}.tmp`)
    writeFileSync(tmp, source)
    renameSync(tmp, pluginFile)
  }
  return changed
}

writeConfig(0)
writePlugin(0)

// Only lines at error level (shown at info and warn alike) are counted from the log.
const serverLog = { failed: 0, errors: [] as string[] }
let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
let stopping = false
const server = startEnetChild(configFile, {
  cwd: root,
  onLine(line) {
    if (!line.startsWith('{')) return
    const l = JSON.parse(line) as { level: number; msg: string; outcome?: string }
    if (l.outcome === 'failed') serverLog.failed++
    if (l.level >= 50) serverLog.errors.push(line)
  },
})
const child = server.child
child.on('exit', (code, signal) => {
  exited = { code, signal }
  if (!stopping) console.error(`soak: server exited unexpectedly (code ${code}, signal ${signal})`)
})
let stderr = ''
child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s))

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

/** One TCP request for the echo plugin's record. */
async function probe(port: number): Promise<EchoRecord> {
  const socket = net.connect({ host: '127.0.0.1', port })
  const decoder = tlvBE.createDecoder(1024 * 1024)
  try {
    return await new Promise<EchoRecord>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to the probe within 5 s')), 5_000)
      socket.on('error', (err) => (clearTimeout(timer), reject(err)))
      socket.on('data', (chunk: Buffer) => {
        decoder.push(chunk)
        if (!decoder.next()) return
        clearTimeout(timer)
        if (decoder.msgId !== PROBE) return reject(new Error(`probe answered with msgId ${decoder.msgId}`))
        resolve(JSON.parse(decoder.data.toString('utf8')) as EchoRecord)
      })
      socket.write(tlvBE.encode(PROBE, Buffer.alloc(0)))
    })
  } finally {
    socket.destroy()
  }
}

/** The echo plugin's version as the plugin host reports it (admin socket), or null. */
async function echoVersionOf(adminSock: string): Promise<number | null> {
  const r = await adminRequest(adminSock, { cmd: 'plugins' }).catch(() => null)
  const v = (r?.plugins as Array<{ name: string; version: number }> | undefined)?.find((p) => p.name === 'echo')?.version
  return typeof v === 'number' ? v : null
}

/** Reloads applied, from the echo plugin's record of its versions. */
function countReloads(rec: EchoRecord) {
  // The last entry per version number is the one that went live (an earlier one with that number failed to activate).
  const byVersion = new Map<number, [number, number]>()
  for (const [v, src, cfg] of rec.versions) byVersion.set(v, [src, cfg])
  const order = [...byVersion.keys()].sort((a, b) => a - b)
  const sources = new Set<number>()
  const configs = new Set<number>()
  /** Reloads that brought neither a new source nor new options (a save seen twice). */
  let extra = 0
  let prev: [number, number] | null = null
  for (const v of order) {
    const [src, cfg] = byVersion.get(v)!
    if (prev && src === prev[0] && cfg === prev[1]) extra++
    if (src !== 0) sources.add(src)
    if (cfg !== 0) configs.add(cfg)
    prev = [src, cfg]
  }
  const last = order.length ? byVersion.get(order[order.length - 1]!)! : [NaN, NaN]
  return { lastVersion: order.at(-1) ?? 0, pluginSources: sources.size, configRevs: configs.size, extra, lastSource: last[0]!, lastConfig: last[1]! }
}

async function worker(session: () => Promise<void>): Promise<void> {
  while (running) await session()
}

// ---- the run -------------------------------------------------------------------

const fmt = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`

async function main(): Promise<number> {
  const ports = await server.ports
  const adminSock = join(root, '.enet', 'admin.sock')
  const rssStart = server.rss()
  console.log(`soak: server pid ${child.pid} tcp ${ports.tcp} udp ${ports.udp}; ${SECONDS} s, ${TCP_WORKERS} TCP + ${UDP_WORKERS} UDP workers; RSS ${fmt(rssStart)}`)

  let pluginRev = 0
  let configRev = 0
  let pluginTimer: NodeJS.Timeout | undefined
  const pluginStart = setTimeout(() => {
    const write = () => {
      if (writePlugin(++pluginRev)) stats.pluginWrites++
    }
    write()
    pluginTimer = setInterval(write, PLUGIN_EVERY_MS)
  }, PLUGIN_OFFSET_MS)
  const configTimer = setInterval(() => {
    writeConfig(++configRev)
    stats.configWrites++
  }, CONFIG_EVERY_MS)
  const t0 = performance.now()
  const progress = setInterval(async () => {
    const s = Math.round((performance.now() - t0) / 1000)
    const v = await echoVersionOf(adminSock)
    if (exited) return
    console.log(
      `  ${s}s sent tcp ${stats.sent.tcp} udp ${stats.sent.udp}, answered ${stats.answered.tcp + stats.answered.udp}, lost ${stats.lost.tcp + stats.lost.udp}, dropped ${stats.dropped}, conns ${stats.connections}, writes plugin ${stats.pluginWrites} config ${stats.configWrites}, echo v${v}, RSS ${fmt(server.rss())}`,
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
  clearTimeout(pluginStart)
  clearInterval(pluginTimer)
  clearInterval(configTimer)
  clearInterval(progress)
  // In-flight requests finish or time out; every session closes itself.
  await Promise.all(workers)

  // The last write may be a few ms old: give the server SETTLE_MS to apply it
  // (source `pluginRev` and config `configRev` live, every config write's event seen).
  let record: EchoRecord | null = null
  let reloads: ReturnType<typeof countReloads> | null = null
  let probeError: string | null = null
  const settleUntil = performance.now() + SETTLE_MS
  while (exited === null) {
    try {
      record = await probe(ports.tcp)
      reloads = countReloads(record)
      probeError = null
    } catch (err) {
      probeError = (err as Error).message
    }
    const settled =
      reloads !== null &&
      reloads.lastSource === pluginRev &&
      reloads.lastConfig === configRev &&
      record!.configEvents.applied + record!.configEvents.failed >= stats.configWrites
    if (settled || performance.now() > settleUntil) break
    await new Promise((r) => setTimeout(r, 100))
  }

  const crashed = exited !== null
  const rssEnd = crashed ? NaN : server.rss()
  let echoVersion: number | null = null
  if (!crashed) {
    echoVersion = await echoVersionOf(adminSock)
    stopping = true
    child.kill('SIGTERM')
    await new Promise<void>((resolve) => (exited ? resolve() : child.once('exit', () => resolve())))
  }
  const lost = stats.lost.tcp + stats.lost.udp
  const rssGrewTooMuch = !(rssEnd <= 2 * rssStart + 50 * MiB)
  // Every write must be applied: each plugin source revision and each config revision
  // must have gone live in some echo version, the config events must all be
  // 'applied', and the host's version must be the last one the plugin recorded.
  const pluginApplied = reloads?.pluginSources ?? 0
  const configApplied = reloads?.configRevs ?? 0
  const configEvents = record?.configEvents ?? { applied: 0, failed: 0 }
  /** Each write makes exactly one new version when nothing folds or repeats. */
  const expectedVersion = 1 + stats.pluginWrites + stats.configWrites
  const reloadsShort =
    pluginApplied < stats.pluginWrites ||
    configApplied < stats.configWrites ||
    configEvents.applied < stats.configWrites ||
    reloads?.lastSource !== pluginRev ||
    reloads?.lastConfig !== configRev ||
    echoVersion !== reloads?.lastVersion
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
    pluginReloadsApplied: pluginApplied,
    pluginReloadFailures: serverLog.failed,
    echoVersion,
    echoVersionExpected: expectedVersion,
    extraReloads: reloads?.extra ?? null,
    configWrites: stats.configWrites,
    configReloadsApplied: configApplied,
    configEvents,
    probeError,
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
  console.log(`  reloads    plugin: ${stats.pluginWrites} writes (all changed the source), ${pluginApplied} applied, ${serverLog.failed} failed (error lines)`)
  console.log(`             config: ${stats.configWrites} writes, ${configApplied} applied to echo's options; onConfigEvent applied ${configEvents.applied}, failed ${configEvents.failed}`)
  console.log(`             echo v${echoVersion} (admin socket), expected v${expectedVersion} = 1 + ${stats.pluginWrites} + ${stats.configWrites}; extra reloads ${reloads?.extra ?? '?'}${probeError ? `; probe: ${probeError}` : ''}`)
  console.log(`             replies by tag ${JSON.stringify(stats.byTag)}`)
  console.log(`  server     RSS ${fmt(rssStart)} → ${fmt(rssEnd)}; ${serverLog.errors.length} error lines; ${crashed ? 'CRASHED' : `stopped with ${JSON.stringify(exited)}`}`)
  for (const line of serverLog.errors.slice(0, 5)) console.log(`    ${line}`)
  if (stderr.trim()) console.log(`  server stderr: ${stderr.trim().split('\n').slice(0, 5).join(' | ')}`)
  console.log(JSON.stringify(summary))
  const checks: Array<[boolean, string]> = [
    [crashed, 'server crashed'],
    [lost > 0, `${lost} requests lost`],
    [stats.duplicated > 0, `${stats.duplicated} duplicated`],
    [stats.corrupt > 0, `${stats.corrupt} corrupt`],
    [stats.dropped > 0, `${stats.dropped} connections dropped`],
    [rssGrewTooMuch, 'RSS more than doubled (+50 MiB)'],
    [reloadsShort, 'fewer reloads applied than writes'],
  ]
  const failures = checks.filter(([bad]) => bad).map(([, why]) => why)
  console.log(failures.length ? `soak: FAILED (${failures.join('; ')})` : 'soak: ok')
  const failed = failures.length > 0
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
