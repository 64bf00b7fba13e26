// enet start --workers N: the primary (forks, relays, admin socket, signals)
// and what each worker runs (the app, answering the primary).
import { type ConfigPatch, formatHostPort, parseHostPort } from '../config.ts'
import { createLogger } from '../engine/logger.ts'
import { EnetError } from '../errors.ts'
import { AdminSocket, localAdmin, type AdminRequest } from '../runtime/admin.ts'
import { startApp, type App } from '../runtime/app.ts'
import { superviseProcess } from '../runtime/faults.ts'
import { loadConfig } from '../runtime/config-file.ts'
import { clusterAdmin } from '../runtime/cluster/admin.ts'
import { openClusterHttp, type ClusterHttp } from '../runtime/cluster/observe.ts'
import { ClusterPrimary, WORKER_UDP_ENV } from '../runtime/cluster/primary.ts'
import { connectToPrimary } from '../runtime/cluster/worker.ts'
import type { ServerAddress } from '../types.ts'

/** `--workers` accepts 1 to this many. */
export const MAX_WORKERS = 64

export function parseWorkers(value: string): number {
  const n = Number(value)
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_WORKERS) throw new EnetError('ENET_ERR_CLI', [`start: --workers: expected an integer from 1 to ${MAX_WORKERS}, got "${value}"`])
  return n
}

export function listeningLine(address: ServerAddress, http?: { host: string; port: number }): string {
  const parts = (['tcp', 'udp', 'ws', 'tls'] as const).flatMap((k) => (address[k] ? [` ${k} ${formatHostPort(address[k])}`] : []))
  if (http) parts.push(` http ${formatHostPort(http)}`)
  return `enet listening${parts.join('')}\n`
}

export async function runPrimary(workers: number, file: string | undefined, flags: ConfigPatch, out: NodeJS.WritableStream): Promise<number> {
  // Read once here too: a config mistake is one line from the primary, not N from the workers.
  const { config } = await loadConfig({ file, flags })
  const log = createLogger(config).child({ role: 'primary' })
  const stopTimeoutMs = config.limits.drainTimeoutMs + config.plugins.drainTimeoutMs + 5_000
  const primary = new ClusterPrimary({ workers, log, stopTimeoutMs })
  let admin: AdminSocket | null = null
  let http: ClusterHttp | null = null
  let stopping: Promise<void> | null = null
  const stop = () =>
    (stopping ??= (async () => {
      await admin?.close()
      await http?.close()
      await primary.stop()
      log.info('closed')
      await new Promise<void>((resolve) => log.flush(() => resolve()))
    })())
  try {
    await primary.start()
  } catch (err) {
    await primary.stop()
    const code = (err as { exitCode?: number }).exitCode
    // The worker printed its own one-line error; a config or flag mistake keeps its exit code.
    if (typeof code === 'number' && code !== 0) return code
    throw err
  }
  if (config.admin.socket !== false) {
    admin = new AdminSocket(config.admin.socket, log, clusterAdmin(primary))
    await admin.listen()
  }
  if (config.http) http = await openClusterHttp(primary, config.http, log)
  log.info({ workers, pids: primary.pids(), ...primary.address() }, 'listening')
  return new Promise<number>((resolve) => {
    primary.onFatalError(() => void stop().then(() => resolve(1)))
    const onSignal = (signal: string) => {
      if (stopping) process.exit(1)
      log.info({ signal }, 'stopping every worker')
      stop().then(
        () => resolve(0),
        () => resolve(1),
      )
    }
    process.once('SIGINT', () => onSignal('SIGINT'))
    process.once('SIGTERM', () => onSignal('SIGTERM'))
    // After the signals are ours, as in start.ts.
    out.write(listeningLine(primary.address(), http?.address))
  })
}

export async function runWorker(id: { worker: number; workers: number }, file: string | undefined, flags: ConfigPatch): Promise<number> {
  const { link, bus } = connectToPrimary(id)
  // The primary owns the admin socket; worker 0 alone binds UDP (see primary.ts).
  const own: ConfigPatch = { ...flags, admin: { socket: false } }
  if (id.worker !== 0) own.udp = { ...(flags.udp as object), enabled: false }
  else if (process.env[WORKER_UDP_ENV]) own.udp = parseHostPort(process.env[WORKER_UDP_ENV]!, WORKER_UDP_ENV)
  // Plugin faults are contained in each worker as in a single process; other errors end the worker.
  let running: App | null = null
  superviseProcess(() => running)
  const app = (running = await startApp({ file, flags: own, cluster: bus, serveHttp: false }))
  const answer = localAdmin(app.server, app.plugins, () => app.status())
  link.handle('admin', (req) => answer(req as AdminRequest))
  // The primary serves GET /metrics, /status and the dashboard for every worker (see cluster/observe.ts).
  link.handle('metrics', async () => (await app.observatory?.metrics.getMetricsAsJSON()) ?? [])
  link.handle('feed', () => (app.observatory ? { status: app.status(), totals: app.observatory.totals() } : null))
  let closing: Promise<void> | null = null
  const stop = (why: string) => {
    if (closing) return closing
    app.server.log.info({ worker: id.worker, why }, 'stopping')
    return (closing = app.close())
  }
  link.handle('shutdown', async () => {
    await stop('primary')
    return true
  })
  return new Promise<number>((resolve) => {
    // The primary disconnects a worker once it has drained; a primary that died disconnects it too.
    process.once('disconnect', () => void stop('primary gone').then(() => resolve(0), () => resolve(1)))
    // A signal to the worker alone (or to the whole group from a terminal): drain, then leave.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => void stop(signal).then(() => process.connected && process.disconnect()))
    }
    void link.request('ready', app.server.address())
  })
}
