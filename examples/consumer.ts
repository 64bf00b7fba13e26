// The demo's consumer: polls the live node list (msgId 11 → reply msgId 10, page by page)
// and asks where a resource is (msgId 20 → reply msgId 20).
//
//   node bin/run.mjs examples/consumer.ts --server 127.0.0.1:6430 --resource foo [--interval 1000] [--count 5] [--validate]
import { parseArgs } from 'node:util'
import { connect, type Client, type ClientOptions } from '../core/client/index.ts'
import { isMain, parseHostPort } from './args.ts'

export const MSG = { list: 11, listReply: 10, locate: 20 } as const
export const NOT_FOUND = '没有找到'

/** `validateAddress` (UDP): prove this address first, as a server in strict mode (on with node authentication) wants for replies larger than 3× the request. */
export function openConsumer(server: string, transport: 'udp' | 'tcp' = 'udp', opts: Pick<ClientOptions, 'validateAddress'> = {}): Client {
  return connect(`${transport}://${server}`, opts)
}

/** The first page of live nodes, as the server lists them (`a:1 b:2 ` → ['a:1', 'b:2']): what a Go consumer's plain 11 gets. */
export async function listNodes(client: Client, timeoutMs = 2_000): Promise<string[]> {
  return listPage(client, 0, timeoutMs)
}

/** Page `page` of the live nodes (data `page:N`); empty past the last page. */
export async function listPage(client: Client, page: number, timeoutMs = 2_000): Promise<string[]> {
  const reply = await client.request(MSG.list, page === 0 ? '' : `page:${page}`, { replyId: MSG.listReply, timeoutMs })
  return reply.data.toString('utf8').split(' ').filter(Boolean)
}

/** Every live node, page by page until an empty one (at most `maxPages`: the list may change meanwhile). */
export async function listAllNodes(client: Client, opts: { timeoutMs?: number; maxPages?: number } = {}): Promise<string[]> {
  const all: string[] = []
  for (let page = 0; page < (opts.maxPages ?? 64); page++) {
    const nodes = await listPage(client, page, opts.timeoutMs)
    if (nodes.length === 0) break
    all.push(...nodes)
  }
  return all
}

/** The `host:port` holding `resource`, or null when the server answers with the not-found text. */
export async function locate(client: Client, resource: string, opts: { timeoutMs?: number; notFound?: string } = {}): Promise<string | null> {
  const reply = await client.request(MSG.locate, resource, { replyId: MSG.locate, timeoutMs: opts.timeoutMs ?? 5_000 })
  const text = reply.data.toString('utf8')
  return text === (opts.notFound ?? NOT_FOUND) ? null : text
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      server: { type: 'string', default: '127.0.0.1:6430' },
      resource: { type: 'string', default: 'foo' },
      interval: { type: 'string', default: '1000' },
      count: { type: 'string', default: '0' },
      tcp: { type: 'boolean', default: false },
      validate: { type: 'boolean', default: false },
    },
  })
  parseHostPort(values.server, '--server')
  const intervalMs = Number(values.interval)
  const count = Number(values.count)
  if (!Number.isInteger(intervalMs) || intervalMs < 10) throw new Error(`--interval: expected milliseconds >= 10, got "${values.interval}"`)
  if (!Number.isInteger(count) || count < 0) throw new Error(`--count: expected a number of rounds (0: until Ctrl-C), got "${values.count}"`)
  const client = openConsumer(values.server, values.tcp ? 'tcp' : 'udp', { validateAddress: values.validate })
  let stop = false
  const onSignal = () => (stop = true)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  let failures = 0
  try {
    await client.ready()
    for (let round = 1; !stop && (count === 0 || round <= count); round++) {
      try {
        const nodes = await listAllNodes(client)
        console.log(`live nodes: ${nodes.length ? nodes.join(' ') : '(none)'}`)
        const where = await locate(client, values.resource)
        console.log(`"${values.resource}": ${where ?? NOT_FOUND}`)
      } catch (err) {
        failures++
        console.log(`no answer: ${(err as Error).message}`)
      }
      if (!stop && (count === 0 || round < count)) await new Promise((r) => setTimeout(r, intervalMs))
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    await client.close()
  }
  return failures === 0 ? 0 : 1
}

if (isMain(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      console.error(`consumer: ${(err as Error).message}`)
      process.exitCode = 2
    },
  )
}
