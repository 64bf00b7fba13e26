// enet <command>: start | send | plugins | reload | status. Each returns an exit code.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { EnetError } from '../errors.ts'

const USAGE = `usage:
  enet start [--config FILE] [--tcp HOST:PORT] [--udp HOST:PORT] [--ws HOST:PORT] [--tls HOST:PORT --tls-cert FILE --tls-key FILE [--tls-ca FILE]] [--http HOST:PORT]
             [--plugins DIR] [--no-watch] [--log-level L] [--heartbeat MS] [--workers N]
  enet send [--udp] HOST:PORT MSGID DATA [--wait] [--timeout MS] [--reply-id N]
  enet plugins [--config FILE] [--json]        list the running server's plugins
  enet reload NAME [--config FILE]             reload one plugin of the running server
  enet status [--config FILE] [--json]         counters, connections and plugin stats of the running server
  enet --version                               print the version
enet COMMAND --help lists a command's options and their defaults.`

/** The version in the package.json above this file (sources or a build beneath it). */
export function version(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
    if (dirname(dir) === dir) throw new Error('no package.json above the enet CLI')
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'start':
        return await (await import('./start.ts')).startCommand(rest)
      case 'send':
        return await (await import('./send.ts')).sendCommand(rest)
      case 'plugins':
      case 'reload':
      case 'status':
        return await (await import('./admin.ts')).adminCommand(command, rest)
      case '-v':
      case '--version':
      case 'version':
        process.stdout.write(version() + '\n')
        return 0
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        process.stdout.write(USAGE + '\n')
        return command === undefined ? 2 : 0
      default:
        process.stderr.write(`enet: unknown command "${command}"\n${USAGE}\n`)
        return 2
    }
  } catch (err) {
    // Config and flag mistakes: one line, no stack.
    process.stderr.write(`enet: ${err instanceof EnetError ? err.message : (err as Error)?.stack ?? String(err)}\n`)
    return err instanceof EnetError ? 2 : 1
  }
}
