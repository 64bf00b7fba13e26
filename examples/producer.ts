// A node of the demo protocol: it serves some resources at `host:port`,
// announces that address to the enet server every second (msgId 10), and
// answers the server's locate queries (msgId 20 `resource`) for the resources
// it holds with msgId 21 `resource\nhost:port`. With a secret (node
// authentication, docs/auth.md) both are signed, answers for the query id the
// server sent (`resource\nqid`).
//
//   node bin/run.mjs examples/producer.ts --server 127.0.0.1:6430 --listen 127.0.0.1:0 --resource foo [--secret S]
import net from 'node:net'
import { parseArgs } from 'node:util'
import { signMessage } from '../plugins/heartbeat/auth.ts'
import { connect, type Client, type Message } from '../core/client/index.ts'
import { isMain, parseHostPort } from './args.ts'

export const MSG = { beat: 10, query: 20, answer: 21 } as const

export interface ProducerOptions {
  /** The enet server, `host:port`. */
  server: string
  /** Where this node serves its resources; port 0 picks one. Default 127.0.0.1:0. */
  listen?: string
  resources?: string[]
  /** Beat period; default 1000 ms (the Go demo's). */
  intervalMs?: number
  /** Beat over UDP (default, as the Go demo) or TCP. */
  transport?: 'udp' | 'tcp'
  /** The server's heartbeat `secret`: sign beats and answers. Default none (the Go demo's plain text). */
  secret?: string
  /** Progress lines; default none. */
  log?: (line: string) => void
}

export interface Producer {
  /** The `host:port` this node announces. */
  readonly node: string
  readonly resources: ReadonlySet<string>
  readonly client: Client
  /** Queries received, and the ones it answered. */
  readonly counts: { beats: number; queries: number; answered: number }
  stop(): Promise<void>
}

export async function startProducer(opts: ProducerOptions): Promise<Producer> {
  const resources = new Set(opts.resources ?? [])
  const log = opts.log ?? (() => {})
  const listen = parseHostPort(opts.listen ?? '127.0.0.1:0', '--listen')
  // What "holding a resource" means here: a TCP port that lists what it holds.
  const shop = net.createServer((socket) => socket.end([...resources].join('\n') + '\n'))
  await new Promise<void>((resolve, reject) => {
    shop.once('error', reject)
    shop.listen(listen.port, listen.host, () => resolve())
  })
  const addr = shop.address() as net.AddressInfo
  const node = `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`

  const client = connect(`${opts.transport ?? 'udp'}://${opts.server}`)
  const counts = { beats: 0, queries: 0, answered: 0 }
  client.on('message', (m: Message) => {
    if (m.msgId !== MSG.query) return
    counts.queries++
    // `resource`, or `resource\nqid` from a server that wants signed answers.
    const [name = '', queryId] = m.data.toString('utf8').split('\n', 2)
    if (!resources.has(name)) return
    counts.answered++
    const answer = `${name}\n${node}`
    client.send(MSG.answer, opts.secret === undefined ? answer : signMessage(opts.secret, MSG.answer, answer, { queryId }))
    log(`producer ${node}: query "${name}" → I have it`)
  })
  try {
    await client.ready()
  } catch (err) {
    shop.close()
    throw err
  }
  const beat = () => {
    counts.beats++
    client.send(MSG.beat, opts.secret === undefined ? node : signMessage(opts.secret, MSG.beat, node))
  }
  beat()
  const timer = setInterval(beat, opts.intervalMs ?? 1_000)
  log(`producer ${node}: beating to ${opts.server}${opts.secret === undefined ? '' : ' (signed)'} every ${opts.intervalMs ?? 1_000} ms, holding ${resources.size ? [...resources].map((r) => `"${r}"`).join(', ') : 'nothing'}`)

  let stopping: Promise<void> | null = null
  return {
    node,
    resources,
    client,
    counts,
    stop() {
      stopping ??= (async () => {
        clearInterval(timer)
        await client.close()
        await new Promise<void>((resolve) => shop.close(() => resolve()))
      })()
      return stopping
    },
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: 'string', default: '127.0.0.1:6430' },
      listen: { type: 'string', default: '127.0.0.1:0' },
      resource: { type: 'string', multiple: true, default: [] },
      interval: { type: 'string', default: '1000' },
      tcp: { type: 'boolean', default: false },
      secret: { type: 'string' },
    },
  })
  const intervalMs = Number(values.interval)
  if (!Number.isInteger(intervalMs) || intervalMs < 10) throw new Error(`--interval: expected milliseconds >= 10, got "${values.interval}"`)
  parseHostPort(values.server, '--server')
  const p = await startProducer({
    server: values.server,
    listen: values.listen,
    resources: values.resource,
    intervalMs,
    transport: values.tcp ? 'tcp' : 'udp',
    secret: values.secret ?? process.env.ENET_SECRET,
    log: (line) => console.log(line),
  })
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await p.stop()
  return 0
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(`producer: ${(err as Error).message}`)
      process.exitCode = 2
    },
  )
}
