// enet plugins | enet reload NAME: ask a running server through its admin socket.
import { parseArgs } from 'node:util'
import { adminRequest } from '../admin.ts'
import { loadConfig } from '../config-file.ts'
import { EnetError } from '../errors.ts'
import type { PluginInfo } from '../plugin/host.ts'

export async function adminCommand(command: 'plugins' | 'reload', argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, socket: { type: 'string' }, json: { type: 'boolean' } },
    })
  } catch (e) {
    throw new EnetError('ENET_ERR_CLI', [`${command}: ${(e as Error).message}`])
  }
  const { values, positionals } = parsed
  if (command === 'reload' && positionals.length !== 1) throw new EnetError('ENET_ERR_CLI', ['reload: expected one plugin NAME'])
  if (command === 'plugins' && positionals.length) throw new EnetError('ENET_ERR_CLI', [`plugins: unexpected argument "${positionals[0]}"`])
  let socket = values.socket
  if (!socket) {
    const { config } = await loadConfig({ file: values.config })
    if (config.admin.socket === false) throw new EnetError('ENET_ERR_CLI', [`${command}: admin.socket is off in the config`])
    socket = config.admin.socket
  }
  let reply
  try {
    reply = await adminRequest(socket, command === 'plugins' ? { cmd: 'plugins' } : { cmd: 'reload', name: positionals[0]! })
  } catch (e) {
    err.write(`enet: ${(e as Error).message}\n`)
    return 1
  }
  if (!reply.ok) {
    err.write(`enet: ${reply.error}\n`)
    return 1
  }
  const rows = command === 'plugins' ? (reply.plugins as PluginInfo[]) : [reply.plugin as PluginInfo]
  out.write(values.json ? JSON.stringify(rows) + '\n' : table(rows))
  return rows.some((r) => r.lastError) && command === 'reload' ? 1 : 0
}

function table(rows: PluginInfo[]): string {
  const head = ['NAME', 'VERSION', 'STATUS', 'ROUTES', 'TAPS', 'LAST ERROR']
  const body = rows.map((r) => [r.name, `v${r.version}`, r.status, r.routes.join(',') || '-', String(r.taps), r.lastError ?? '-'])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  return [head, ...body].map((cells) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n'
}
