// enet send [--udp] HOST:PORT MSGID DATA [--wait] [--timeout MS] [--reply-id N]
// Exit codes: 0 sent (and answered, with --wait), 1 network failure or
// timeout, 2 a mistake on the command line.
import { parseArgs } from 'node:util'
import { connect, type Client } from '../client/index.ts'
import { splitHostPort } from '../wire/address.ts'
import { EnetError } from '../errors.ts'
import { firstSentence, helpText, optionsOf, type Command } from './flags.ts'

export const SEND: Command = {
  name: 'send',
  usage: '[--udp] HOST:PORT MSGID [DATA] [options]',
  summary: 'Send one message (DATA as UTF-8 text, empty by default) and, with --wait, print the reply as "MSGID DATA".\nExit 0 sent (and answered), 1 no connection or no reply in time, 2 a mistake on the command line.',
  positionals: true,
  flags: {
    udp: { type: 'boolean', help: 'send one datagram instead of a TCP frame', default: 'TCP' },
    wait: { type: 'boolean', help: 'wait for the reply and print it', default: 'send and exit' },
    timeout: { type: 'string', value: 'MS', help: 'how long to wait for the connection and the reply', default: '5000' },
    'reply-id': { type: 'string', value: 'N', help: 'msgId of the reply to wait for', default: 'the MSGID sent' },
  },
}

interface Out {
  write(chunk: string): unknown
}

class UsageError extends Error {}


export async function sendCommand(argv: string[], out: Out = process.stdout, err: Out = process.stderr): Promise<number> {
  let args: ReturnType<typeof parse>
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      out.write(helpText(SEND))
      return 0
    }
    args = parse(argv)
  } catch (e) {
    err.write(`enet send: ${firstLine(e)}\n`)
    return 2
  }
  let client: Client | undefined
  try {
    // One shot: a refused connection is an answer, not something to retry.
    client = connect(`${args.udp ? 'udp' : 'tcp'}://${args.address}`, { reconnect: false })
    await connected(client, args.timeoutMs)
    if (args.wait) {
      const reply = await client.request(args.msgId, args.data, { replyId: args.replyId, timeoutMs: args.timeoutMs })
      out.write(`${reply.msgId} ${reply.data.toString('utf8')}\n`)
    } else {
      client.send(args.msgId, args.data)
    }
    return 0
  } catch (e) {
    err.write(`enet send: ${firstLine(e)}\n`)
    return 1
  } finally {
    await client?.close()
  }
}

function parse(argv: string[]) {
  const parsed = parseArgs({ args: argv, strict: true, allowPositionals: true, options: optionsOf(SEND) })
  const positionals = parsed.positionals
  const values = parsed.values as { udp?: boolean; wait?: boolean; timeout?: string; 'reply-id'?: string }
  if (positionals.length < 2 || positionals.length > 3) {
    throw new UsageError(`expected HOST:PORT MSGID [DATA], got ${positionals.length} argument(s)`)
  }
  const [address, rawId, data = ''] = positionals as [string, string, string?]
  if (!splitHostPort(address)?.host) {
    throw new UsageError(`HOST:PORT: expected e.g. 127.0.0.1:6430 or [::1]:6430, got "${address}"`)
  }
  const msgId = integer(rawId, 'MSGID', 0, 0xffffffff)
  return {
    address,
    msgId,
    data,
    udp: values.udp === true,
    wait: values.wait === true,
    timeoutMs: values.timeout === undefined ? 5000 : integer(values.timeout, '--timeout', 1, 2 ** 31 - 1),
    replyId: values['reply-id'] === undefined ? msgId : integer(values['reply-id'], '--reply-id', 0, 0xffffffff),
  }
}

/** A black-holed address never refuses; --timeout bounds the wait for it too. */
async function connected(client: Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EnetError('ENET_ERR_NOT_CONNECTED', [`${client.url} (no connection within ${ms} ms)`])), ms)
  })
  try {
    await Promise.race([client.ready(), late])
  } finally {
    clearTimeout(timer)
  }
}

function integer(raw: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!(n >= min && n <= max)) throw new UsageError(`${what}: expected an integer from ${min} to ${max}, got "${raw}"`)
  return n
}

const firstLine = firstSentence
