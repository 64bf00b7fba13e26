// enet start: load the config, start the server and its plugins, stop on SIGINT/SIGTERM.
import { parseArgs } from 'node:util'
import { parseHostPort, type ConfigPatch } from '../config.ts'
import { EnetError } from '../errors.ts'
import { startApp } from '../runtime/app.ts'
import { workerIdentity } from '../runtime/cluster/worker.ts'
import { listeningLine, parseWorkers, runPrimary, runWorker } from './workers.ts'

export async function startCommand(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values } = parseFlags(argv)
  const flags: ConfigPatch = {}
  if (values.tcp) flags.tcp = parseHostPort(values.tcp, '--tcp')
  if (values.udp) flags.udp = parseHostPort(values.udp, '--udp')
  if (values.heartbeat !== undefined) flags.heartbeat = { intervalMs: parseMs(values.heartbeat, '--heartbeat') }
  if (values['log-level']) flags.log = { level: values['log-level'] }
  const plugins: ConfigPatch = {}
  if (values.plugins) plugins.dirs = values.plugins
  if (values['no-watch']) plugins.watch = false
  if (Object.keys(plugins).length) flags.plugins = plugins

  // A worker forked by `--workers` runs the same command line.
  const id = workerIdentity()
  if (id !== null) return runWorker(id, values.config, flags)
  if (values.workers !== undefined) return runPrimary(parseWorkers(values.workers), values.config, flags, out)

  const app = await startApp({ file: values.config, flags })
  out.write(listeningLine(app.server.address()))

  return new Promise<number>((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) {
        // A second signal: the person means it.
        process.exit(1)
      }
      stopping = true
      const closing = app.close()
      app.server.log.info({ signal }, 'stopping')
      closing.then(
        () => resolve(0),
        (err) => {
          process.stderr.write(`enet: error while stopping: ${(err as Error).message}\n`)
          resolve(1)
        },
      )
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}

function parseFlags(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        tcp: { type: 'string' },
        udp: { type: 'string' },
        plugins: { type: 'string', multiple: true },
        'no-watch': { type: 'boolean' },
        'log-level': { type: 'string' },
        heartbeat: { type: 'string' },
        workers: { type: 'string' },
      },
    })
  } catch (err) {
    throw new EnetError('ENET_ERR_CLI', [`start: ${(err as Error).message}`])
  }
}

function parseMs(value: string, flag: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new EnetError('ENET_ERR_CLI', [`start: ${flag}: expected milliseconds (an integer), got "${value}"`])
  return n
}
