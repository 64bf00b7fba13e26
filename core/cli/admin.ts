// enet plugins | enet reload NAME | enet status: ask a running server through its admin socket.
import { adminRequest } from '../runtime/admin.ts'
import { formatHostPort } from '../config.ts'
import { loadConfig } from '../runtime/config-file.ts'
import { EnetError } from '../errors.ts'
import type { PluginInfo } from '../runtime/plugin/host.ts'
import { helpText, parseCommand, type Command, type Flag } from './flags.ts'

const common: Record<string, Flag> = {
  config: { type: 'string', short: 'c', value: 'FILE', help: 'config file that names the admin socket', default: './enet.config.ts when present' },
  socket: { type: 'string', value: 'PATH', help: 'admin socket to talk to, instead of the config\'s', default: 'admin.socket in the config, .enet/admin.sock' },
  json: { type: 'boolean', help: 'print JSON instead of a table', default: 'table' },
}
const admin = (name: string, usage: string, summary: string): Command => ({ name, usage, summary, flags: common, positionals: true })

export const ADMIN = {
  plugins: admin('plugins', '[options]', "List the running server's plugins: version, status, routes, taps, last error."),
  reload: admin('reload', 'NAME [options]', 'Reload one plugin of the running server from disk now.'),
  status: admin('status', '[options]', "Print the running server's addresses, connections, non-zero counters and each plugin's stats."),
} satisfies Record<string, Command>
import type { Status } from '../runtime/status.ts'

export async function adminCommand(command: 'plugins' | 'reload' | 'status', argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = parseCommand(ADMIN[command], argv)
  if (parsed.help) {
    out.write(helpText(ADMIN[command]))
    return 0
  }
  const { positionals } = parsed
  const values = parsed.values as { config?: string; socket?: string; json?: boolean }
  if (command === 'reload' && positionals.length !== 1) throw new EnetError('ENET_ERR_CLI', ['reload: expected one plugin NAME'])
  if (command !== 'reload' && positionals.length) throw new EnetError('ENET_ERR_CLI', [`${command}: unexpected argument "${positionals[0]}"`])
  let socket = values.socket
  if (!socket) {
    const { config } = await loadConfig({ file: values.config })
    if (config.admin.socket === false) throw new EnetError('ENET_ERR_CLI', [`${command}: admin.socket is off in the config`])
    socket = config.admin.socket
  }
  let reply
  try {
    reply = await adminRequest(socket, command === 'reload' ? { cmd: 'reload', name: positionals[0]! } : { cmd: command })
  } catch (e) {
    err.write(`enet: ${(e as Error).message}\n`)
    return 1
  }
  if (!reply.ok) {
    err.write(`enet: ${reply.error}\n`)
    return 1
  }
  if (command === 'status') {
    const { ok: _ok, ...status } = reply
    out.write(values.json ? JSON.stringify(status) + '\n' : statusText(status as unknown as Status))
    return 0
  }
  // Under --workers the primary answers with a row per plugin per worker, reload included.
  const rows = (reply.plugins as Row[] | undefined) ?? [reply.plugin as Row]
  out.write(values.json ? JSON.stringify(rows) + '\n' : table(rows))
  return rows.some((r) => r.lastError) && command === 'reload' ? 1 : 0
}

type Row = Omit<PluginInfo, 'status'> & { status: string; worker?: number }

function table(rows: Row[]): string {
  const workers = rows.some((r) => r.worker !== undefined)
  const head = [...(workers ? ['WORKER'] : []), 'NAME', 'VERSION', 'STATUS', 'ROUTES', 'TAPS', 'FAULTS', 'RESTARTS', 'LAST ERROR', 'LAST FAULT']
  const body = rows.map((r) => [...(workers ? [String(r.worker)] : []), r.name, `v${r.version}`, r.status, r.routes.join(',') || '-', String(r.taps), String(r.faults ?? 0), String(r.restarts ?? 0), r.lastError ?? '-', r.lastFault ?? '-'])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  return [head, ...body].map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
}

/** A server's snapshot; under --workers the totals, with each worker's own snapshot. */
type CliStatus = Status & { workers?: Array<Partial<Status> & { worker: number; pid: number; error?: string }> }

/** One line per topic; counters that are still 0 are left out; a plugin's report tables get a line each. */
function statusText(s: CliStatus): string {
  const at = (a?: { host: string; port: number }) => (a ? formatHostPort(a) : 'off')
  const lines = [`address      tcp ${at(s.address.tcp)}  udp ${at(s.address.udp)}${s.address.http ? `  http ${at(s.address.http)}` : ''}`, ...statusLines(s, '')]
  for (const w of s.workers ?? []) {
    if (w.error !== undefined) {
      lines.push(`worker ${w.worker}     pid ${w.pid}: ${w.error}`)
      continue
    }
    lines.push(`worker ${w.worker}     pid ${w.pid}`, ...statusLines(w, '  '))
  }
  // Plugins whose code has faulted: what the supervisor did about it.
  for (const f of s.faults ?? []) lines.push(`${'faults'.padEnd(12)} ${f.name} ${f.status} v${f.version}: ${f.faults} faults, ${f.restarts} restarts; last: ${f.lastFault}`)
  return lines.join('\n') + '\n'
}

function statusLines(s: Partial<Status>, indent: string): string[] {
  const pad = (label: string) => `${indent}${label}`.padEnd(12)
  const byProtocol = s.connectionsByProtocol
  const lines = [`${pad('connections')} ${s.connections ?? 0}${s.connections && byProtocol ? ` (tcp ${byProtocol.tcp}, udp ${byProtocol.udp})` : ''}`, `${pad('counters')} ${nonZero(s.counters ?? {})}`]
  for (const [name, p] of Object.entries(s.plugins ?? {})) {
    const head = p.status === 'active' ? `v${p.version}` : `v${p.version} ${p.status}`
    lines.push(`${pad(name)} ${head}${p.stats === undefined ? '' : `, ${nonZero(p.stats)}`}${p.lastError ? `; last error: ${p.lastError}` : ''}`)
    for (const [key, rows] of Object.entries((p.report ?? {}) as Record<string, unknown>)) {
      if (!Array.isArray(rows)) continue
      const first = rows.slice(0, 10).map((r) => (r && typeof r === 'object' ? String(Object.values(r)[0]) : String(r)))
      lines.push(`${pad(`  ${key}`)} ${first.join(' ') || '-'}${rows.length > 10 ? ` (+${rows.length - 10} more)` : ''}`)
    }
  }
  return lines
}

function nonZero(obj: unknown, prefix = ''): string {
  const parts: string[] = []
  const walk = (o: unknown, p: string) => {
    if (typeof o === 'number') {
      if (o !== 0) parts.push(`${p} ${o}`)
    } else if (o && typeof o === 'object') {
      for (const [k, v] of Object.entries(o)) walk(v, p ? `${p}.${k}` : k)
    }
  }
  walk(obj, prefix)
  return parts.join(', ') || '-'
}
