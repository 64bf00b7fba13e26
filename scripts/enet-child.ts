// `enet start` in a child process on 127.0.0.1, for the long runs (soak,
// attacks): the ports it prints, its stdout one line at a time, its RSS.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../bin/enet.mjs', import.meta.url))
const LISTENING = /^enet listening tcp [\d.]+:(\d+) udp [\d.]+:(\d+)$/

export interface EnetChild {
  readonly child: ChildProcess
  /** The ports of the `enet listening` line; rejects if the process exits first. */
  readonly ports: Promise<{ tcp: number; udp: number }>
  /** Resident memory in bytes, from /proc. */
  rss(): number
}

/** Starts `enet start --config FILE` on loopback ports 0, with no ENET_* overrides from this environment. */
export function startEnetChild(configFile: string, opts: { cwd: string; onLine?: (line: string) => void; stderr?: 'pipe' | 'inherit'; env?: NodeJS.ProcessEnv; args?: string[] }): EnetChild {
  const child = spawn(process.execPath, [BIN, 'start', '--config', configFile, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: { ...process.env, ENET_TCP: '', ENET_UDP: '', ENET_LOG_LEVEL: '', ENET_PLUGINS: '', ...opts.env },
    stdio: ['ignore', 'pipe', opts.stderr ?? 'pipe'],
  })
  let rest = ''
  const ports = new Promise<{ tcp: number; udp: number }>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      const lines = (rest + s).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        const m = LISTENING.exec(line)
        if (m) resolve({ tcp: Number(m[1]), udp: Number(m[2]) })
        opts.onLine?.(line)
      }
    })
    child.once('exit', (code, signal) => reject(new Error(`enet start exited (code ${code}, signal ${signal}) before listening`)))
  })
  ports.catch(() => {})
  return { child, ports, rss: () => rssOf(child.pid!) }
}

export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : NaN
}
