// `enet start` as a real child process (the CLI, as a user runs it): its
// listening line, its stdout as parsed pino lines, SIGTERM and the exit.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LogLine } from './logs.ts'
import { until } from './until.ts'

const BIN = fileURLToPath(new URL('../../bin/enet.mjs', import.meta.url))
const LISTENING = /^enet listening((?: (?:tcp|udp|ws|tls|http) \S+)+)$/

export interface Ports {
  tcp: number
  udp: number
  ws?: number
  tls?: number
  http?: number
}

export interface EnetProcess {
  readonly proc: ChildProcess
  /** The ports of the `enet listening` line (tcp, udp 0 when off); rejects if the process exits first. */
  readonly ports: Promise<Ports>
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Every JSON log line so far (stdout, from the primary and every worker). */
  readonly logs: LogLine[]
  stderr(): string
  /** Resolves once a log line matching `pred` has been printed. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>
  /** SIGTERM, then the exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function startEnet(args: string[], opts: { cwd: string }): EnetProcess {
  const proc = spawn(process.execPath, [BIN, 'start', ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ENET_TCP: '', ENET_UDP: '', ENET_WS: '', ENET_TLS: '', ENET_LOG_LEVEL: '', ENET_PLUGINS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: LogLine[] = []
  let stderr = ''
  let rest = ''
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  const ports = new Promise<Ports>((resolve, reject) => {
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      const lines = (rest + s).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        const m = LISTENING.exec(line)
        if (m) {
          const found: Ports = { tcp: 0, udp: 0 }
          for (const [, k, port] of m[1]!.matchAll(/ (tcp|udp|ws|tls|http) \S*:(\d+)/g)) found[k as keyof Ports] = Number(port)
          resolve(found)
        }
        else if (line.startsWith('{')) logs.push(JSON.parse(line) as LogLine)
      }
    })
    void exit.then(({ code, signal }) => reject(new Error(`enet start exited (code ${code}, signal ${signal}) before listening; stderr: ${stderr}`)))
  })
  ports.catch(() => {})
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  return {
    proc,
    ports,
    exit,
    logs,
    stderr: () => stderr,
    async waitLog(pred, timeoutMs = 5_000, what = pred.toString()) {
      await until(() => logs.some(pred), timeoutMs, what)
      return logs.find(pred)!
    },
    stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      return exit
    },
  }
}
