// The seed's demo, end to end on loopback in one process: an enet server with
// the bundled plugins, two producers (one holds the resource), a consumer.
// `npm run demo` runs it; it checks what it shows and exits
// 0 when every step went as described, 1 otherwise.
//
//   node bin/run.mjs examples/demo.ts [--secret S] [--ttl MS]
//
// With a secret the nodes authenticate (docs/auth.md): producers sign, and a
// forged, unsigned beat is shown to be refused.
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { App, PluginHost, Server, resolveConfig } from '../core/index.ts'
import { isMain } from './args.ts'
import { listNodes, locate, NOT_FOUND, openConsumer } from './consumer.ts'
import { startProducer, type Producer } from './producer.ts'

export interface DemoOptions {
  /** Where the demo's lines go; default stdout. */
  out?: (line: string) => void
  /** Heartbeat TTL; producers beat every ttlMs / 3. */
  ttlMs?: number
  /** The locator's wait for a claim. */
  locateTimeoutMs?: number
  /** The whole demo gives up (exit 1) after this. */
  deadlineMs?: number
  /** Node authentication: the heartbeat secret, given to the server and the producers. */
  secret?: string
}

const PLUGINS = fileURLToPath(new URL('../plugins', import.meta.url))
const RESOURCE = 'movie.mp4'

export async function runDemo(opts: DemoOptions = {}): Promise<number> {
  const out = opts.out ?? ((line: string) => void process.stdout.write(line + '\n'))
  const ttlMs = opts.ttlMs ?? 1_500
  const locateTimeoutMs = opts.locateTimeoutMs ?? 500
  const secret = opts.secret
  const t0 = performance.now()
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`
  const say = (who: string, text: string) => out(`${elapsed().padStart(5)}  ${who.padEnd(9)} ${text}`)

  const config = resolveConfig({
    name: 'enet-demo',
    tcp: { host: '127.0.0.1', port: 0 },
    udp: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    admin: { socket: false },
    plugins: {
      dirs: [PLUGINS],
      watch: false,
      strict: true,
      options: { heartbeat: { ttlMs, ...(secret === undefined ? {} : { secret }) }, locator: { timeoutMs: locateTimeoutMs } },
    },
  })
  // The server's own log lines about nodes, shown next to what the consumer sees.
  const logStream = {
    write(chunk: string) {
      for (const raw of chunk.split('\n')) {
        if (!raw) continue
        const line = JSON.parse(raw) as { msg?: string; level: number; node?: string; silentMs?: number; reason?: string }
        if (line.msg === 'node registered') say('[server]', `heartbeat: node ${line.node} registered`)
        else if (line.msg === 'node expired') say('[server]', `heartbeat: node ${line.node} expired, silent for ${line.silentMs} ms`)
        else if (line.level >= 40) say('[server]', `${line.level >= 50 ? 'error' : 'warning'}: ${line.msg}${line.reason ? ` (${line.reason})` : ''}`)
      }
    },
  }
  const server = new Server(config, { logStream })
  const app = new App(server, new PluginHost(server), null, {})
  const producers: Producer[] = []
  const consumer = { client: null as ReturnType<typeof openConsumer> | null }
  let failed = false
  const check = (ok: boolean, what: string) => {
    if (!ok) {
      failed = true
      say('demo', `UNEXPECTED: ${what}`)
    }
  }

  const steps = async () => {
    await app.plugins.loadAll()
    const { tcp, udp } = await server.listen()
    say('demo', `server on tcp ${tcp!.host}:${tcp!.port}, udp ${udp!.host}:${udp!.port}; heartbeat TTL ${ttlMs} ms${secret === undefined ? '' : '; nodes authenticate (HMAC)'}`)
    const target = `127.0.0.1:${udp!.port}`
    const log = (line: string) => say('producer', line.replace(/^producer /, ''))
    const a = await startProducer({ server: target, resources: [RESOURCE], intervalMs: Math.round(ttlMs / 3), secret, log })
    producers.push(a)
    const b = await startProducer({ server: target, resources: [], intervalMs: Math.round(ttlMs / 3), secret, log })
    producers.push(b)

    // With a secret the server is in strict mode (udp.strict 'auto'): the consumer proves its address first.
    const c = (consumer.client = openConsumer(target, 'udp', { validateAddress: secret !== undefined }))
    await c.ready()
    const FORGED = '127.0.0.1:9'
    if (secret !== undefined) {
      say('forger', `beats "${FORGED}" unsigned`)
      c.send(10, FORGED)
    }
    let nodes: string[] = []
    // Bounded: the first beats are on their way; give them one beat period or so.
    for (let i = 0; i < 50 && !(nodes.includes(a.node) && nodes.includes(b.node)); i++) {
      nodes = await listNodes(c)
      if (!(nodes.includes(a.node) && nodes.includes(b.node))) await pause(50)
    }
    say('consumer', `live nodes: ${nodes.join(' ') || '(none)'}`)
    check(nodes.includes(a.node) && nodes.includes(b.node), 'both producers should be live')
    if (secret !== undefined) check(!nodes.includes(FORGED), `the unsigned beat of ${FORGED} should have been refused`)

    const where = await locate(c, RESOURCE)
    say('consumer', `where is "${RESOURCE}"? ${where ?? NOT_FOUND}`)
    check(where === a.node, `"${RESOURCE}" should be at ${a.node}`)
    const nowhere = await locate(c, 'song.mp3')
    say('consumer', `where is "song.mp3"? ${nowhere ?? NOT_FOUND}`)
    check(nowhere === null, '"song.mp3" should not be found')

    say('demo', `stopping producer ${a.node}`)
    await a.stop()
    const stoppedAt = performance.now()
    for (let i = 0; i < 200 && nodes.includes(a.node); i++) {
      await pause(50)
      nodes = await listNodes(c)
    }
    const gone = Math.round(performance.now() - stoppedAt)
    say('consumer', `live nodes: ${nodes.join(' ') || '(none)'}  (${a.node} gone ${gone} ms after it stopped)`)
    check(!nodes.includes(a.node) && nodes.includes(b.node), `${a.node} should have expired and ${b.node} stayed`)
    const after = await locate(c, RESOURCE)
    say('consumer', `where is "${RESOURCE}"? ${after ?? NOT_FOUND}`)
    check(after === null, `"${RESOURCE}" should not be found after its producer stopped`)
  }

  let timer: NodeJS.Timeout | undefined
  const deadlineMs = opts.deadlineMs ?? 12_000
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`demo did not finish within ${deadlineMs} ms`)), deadlineMs)
  })
  try {
    await Promise.race([steps(), deadline])
  } catch (err) {
    failed = true
    say('demo', `failed: ${(err as Error).message}`)
  } finally {
    clearTimeout(timer)
    await consumer.client?.close()
    await Promise.all(producers.map((p) => p.stop()))
    await app.close()
  }
  say('demo', failed ? 'done, with unexpected results' : 'done: every step went as expected')
  return failed ? 1 : 0
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

if (isMain(import.meta.url)) {
  const { values } = parseArgs({ options: { secret: { type: 'string' }, ttl: { type: 'string', default: '1500' } } })
  const ttlMs = Number(values.ttl)
  if (!Number.isInteger(ttlMs) || ttlMs < 100 || ttlMs > 5_000) {
    process.stderr.write(`demo: --ttl: expected milliseconds from 100 to 5000, got "${values.ttl}"\n`)
    process.exit(2)
  }
  // With a secret (or ENET_SECRET), nodes sign their beats and answers (docs/auth.md).
  runDemo({ ttlMs, secret: values.secret ?? process.env.ENET_SECRET }).then((code) => (process.exitCode = code))
}
