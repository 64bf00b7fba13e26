// enet start: load the config, start the server and its plugins, stop on SIGINT/SIGTERM.
import { resolve as resolvePath } from 'node:path'
import { parseHostPort, type ConfigPatch } from '../config.ts'
import { EnetError } from '../errors.ts'
import { startApp, type App } from '../runtime/app.ts'
import { superviseProcess } from '../runtime/faults.ts'
import { workerIdentity } from '../runtime/cluster/worker.ts'
import { helpText, parseCommand, type Command } from './flags.ts'
import { listeningLine, parseWorkers, runPrimary, runWorker } from './workers.ts'

export const START: Command = {
  name: 'start',
  usage: '[options]',
  summary: 'Start the server with its plugins; config and plugin files are watched and reloaded live.\nFlags win over ENET_* variables, which win over the config file.',
  flags: {
    config: { type: 'string', short: 'c', value: 'FILE', help: 'config file', default: './enet.config.ts when present' },
    tcp: { type: 'string', value: 'HOST:PORT', help: 'TCP listen address; port 0 picks a free one', default: 'tcp in the config, 0.0.0.0:6430' },
    udp: { type: 'string', value: 'HOST:PORT', help: 'UDP listen address; port 0 picks a free one', default: 'udp in the config, 0.0.0.0:6430' },
    ws: { type: 'string', value: 'HOST:PORT', help: 'also listen for WebSocket (one binary message per frame)', default: 'ws in the config, off' },
    tls: { type: 'string', value: 'HOST:PORT', help: 'also listen for TCP under TLS (needs --tls-cert and --tls-key, or tls.cert/key)', default: 'tls in the config, off' },
    'tls-cert': { type: 'string', value: 'FILE', help: 'PEM certificate (chain) for --tls; reloaded when the file changes', default: 'tls.cert in the config' },
    'tls-key': { type: 'string', value: 'FILE', help: 'PEM private key for --tls', default: 'tls.key in the config' },
    'tls-ca': { type: 'string', value: 'FILE', help: 'CA of client certificates: clients must show one it signed', default: 'tls.ca in the config, none' },
    http: { type: 'string', value: 'HOST:PORT', help: 'HTTP admin listener: /metrics, /status, the dashboard; a bare PORT binds 127.0.0.1', default: 'http in the config, off' },
    plugins: { type: 'string', multiple: true, value: 'DIR', help: 'plugin folder, instead of plugins.dirs', default: 'plugins.dirs in the config, plugins' },
    'no-watch': { type: 'boolean', help: 'do not watch plugin and config files', default: 'watch' },
    'log-level': { type: 'string', value: 'L', help: 'trace, debug, info, warn, error, fatal or silent', default: 'log.level in the config, info' },
    heartbeat: { type: 'string', value: 'MS', help: 'ping TCP connections silent this long, close those that do not answer (0: off)', default: 'heartbeat.intervalMs in the config, off' },
    workers: { type: 'string', value: 'N', help: 'run N worker processes (node:cluster): TCP shared, UDP on worker 0', default: 'one process' },
  },
}

export async function startCommand(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const parsed = parseCommand(START, argv)
  if (parsed.help) {
    out.write(helpText(START))
    return 0
  }
  const values = parsed.values as {
    config?: string
    tcp?: string
    udp?: string
    http?: string
    ws?: string
    tls?: string
    'tls-cert'?: string
    'tls-key'?: string
    'tls-ca'?: string
    plugins?: string[]
    'no-watch'?: boolean
    'log-level'?: string
    heartbeat?: string
    workers?: string
  }
  const flags: ConfigPatch = {}
  if (values.tcp) flags.tcp = parseHostPort(values.tcp, '--tcp')
  if (values.udp) flags.udp = parseHostPort(values.udp, '--udp')
  if (values.ws) flags.ws = parseHostPort(values.ws, '--ws')
  if (values.http) flags.http = parseHostPort(values.http, '--http', '127.0.0.1')
  const tls: ConfigPatch = values.tls ? { ...parseHostPort(values.tls, '--tls') } : {}
  // Relative to where the command runs, not to the config file.
  for (const k of ['cert', 'key', 'ca'] as const) {
    const file = values[`tls-${k}`]
    if (file !== undefined) tls[k] = resolvePath(file)
  }
  if (Object.keys(tls).length) flags.tls = tls
  if (values.heartbeat !== undefined) {
    const ms = parseMs(values.heartbeat, '--heartbeat')
    flags.heartbeat = ms === 0 ? false : { intervalMs: ms }
  }
  if (values['log-level']) flags.log = { level: values['log-level'] }
  const plugins: ConfigPatch = {}
  if (values.plugins) plugins.dirs = values.plugins
  if (values['no-watch']) plugins.watch = false
  if (Object.keys(plugins).length) flags.plugins = plugins

  // A worker forked by `--workers` runs the same command line.
  const id = workerIdentity()
  if (id !== null) return runWorker(id, values.config, flags)
  if (values.workers !== undefined) return runPrimary(parseWorkers(values.workers), values.config, flags, out)

  // Installed before the plugins load: their setup may already start what faults.
  let running: App | null = null
  superviseProcess(() => running)
  const app = (running = await startApp({ file: values.config, flags }))

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
    // Printed once the signals are ours: whoever waits for this line may stop us at once.
    out.write(listeningLine(app.server.address(), app.observatory?.address()))
  })
}

function parseMs(value: string, flag: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new EnetError('ENET_ERR_CLI', [`start: ${flag}: expected milliseconds (an integer), got "${value}"`])
  return n
}
