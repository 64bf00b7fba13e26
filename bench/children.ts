// Server child processes of the benchmark: spawned (pinned to a CPU when the
// orchestrator says so), awaited until listening, asked for memory samples
// over IPC, stopped.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { MemSample, ServerMessage, ServerReady } from './common.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RUNNER = fileURLToPath(new URL('../bin/run.mjs', import.meta.url))

const children = new Set<ChildProcess>()

export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill('SIGKILL')
      } catch {
        /* already gone */
      }
    }
  }
  children.clear()
}

export interface SpawnOptions {
  /** A command prefix such as ['taskset', '-c', '0'] (it execs node: the pid stays node's). */
  prefix: string[]
  nodeFlags: string[]
  /** Raise the soft file-descriptor limit to this before exec. */
  nofile: number | null
  env?: NodeJS.ProcessEnv
}

export class ServerChild {
  readonly proc: ChildProcess
  readonly tail: string[] = []
  readonly exited: Promise<void>
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null
  ready!: ServerReady
  private listeners = new Set<(m: unknown) => void>()
  private msgId = 0

  private constructor(
    readonly name: string,
    file: string,
    o: SpawnOptions,
  ) {
    // A file run with plain node (compiled .js/.mjs) or through jiti's loader (.ts).
    const entry = /\.(m?js)$/.test(file) ? [file] : [RUNNER, file]
    const argv = [...o.prefix, process.execPath, '--expose-gc', ...o.nodeFlags, ...entry]
    const stdio: ['ignore', 'pipe', 'pipe', 'ipc'] = ['ignore', 'pipe', 'pipe', 'ipc']
    const env = o.env ?? process.env
    this.proc =
      o.nofile !== null
        ? spawn('/bin/sh', ['-c', `ulimit -n ${o.nofile} && exec "$0" "$@"`, ...argv], { cwd: ROOT, stdio, env })
        : spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio, env })
    children.add(this.proc)
    const keep = (buf: Buffer) => {
      for (const line of buf.toString('utf8').split('\n')) {
        if (!line.trim()) continue
        this.tail.push(line)
        if (this.tail.length > 40) this.tail.shift()
      }
    }
    this.proc.stdout!.on('data', keep)
    this.proc.stderr!.on('data', keep)
    this.proc.on('message', (m) => {
      for (const l of this.listeners) l(m)
    })
    this.proc.on('error', (e) => this.tail.push(`spawn error: ${e.message}`))
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitInfo = { code, signal }
        children.delete(this.proc)
        resolve()
      })
    })
  }

  static async start(name: string, file: string, o: SpawnOptions): Promise<ServerChild> {
    const c = new ServerChild(name, file, o)
    try {
      c.ready = await c.waitFor<ServerReady>(
        (m) => {
          const msg = m as ServerMessage
          if (msg.type === 'ready') return msg
          if (msg.type === 'error') throw new Error(`${name} failed to start:\n${msg.message}`)
          return undefined
        },
        30_000,
        'startup',
      )
    } catch (e) {
      await c.stop(500)
      const tail = c.tail.length ? `\n  child output:\n    ${c.tail.join('\n    ')}` : ''
      throw new Error(`${(e as Error).message}${tail}`)
    }
    return c
  }

  get pid(): number {
    return this.proc.pid!
  }

  get alive(): boolean {
    return this.exitInfo === null
  }

  describeExit(): string {
    if (!this.exitInfo) return 'still running'
    return this.exitInfo.signal ? `killed by ${this.exitInfo.signal}` : `exited with code ${this.exitInfo.code}`
  }

  mem(): Promise<MemSample> {
    return this.ask('mem', 'mem', 15_000, 'a memory sample').then((m) => (m as Extract<ServerMessage, { type: 'mem' }>).mem)
  }

  /** Ask the child to reload its plugins as they are on disk; resolves once it has. */
  async reload(): Promise<void> {
    await this.ask('reload', 'reloaded', 5_000, 'a reload')
  }

  /** Send a command with a fresh id; resolves with the child's answer of type `answer` and that id. */
  private ask(command: 'mem' | 'reload', answer: ServerMessage['type'], timeoutMs: number, what: string): Promise<ServerMessage> {
    const id = ++this.msgId
    if (this.proc.connected) this.proc.send({ type: command, id })
    return this.waitFor(
      (m) => {
        const msg = m as ServerMessage
        return msg.type === answer && 'id' in msg && msg.id === id ? msg : undefined
      },
      timeoutMs,
      what,
    )
  }

  /** Ask the child to close the server and exit; SIGKILL after `ms`. */
  async stop(ms = 4000): Promise<void> {
    if (!this.alive) return
    if (this.proc.connected) this.proc.send({ type: 'stop' })
    const t = setTimeout(() => this.proc.kill('SIGKILL'), ms)
    await this.exited
    clearTimeout(t)
  }

  private waitFor<T>(pick: (m: unknown) => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false
      const finish = (fn: () => void) => {
        if (done) return
        done = true
        clearTimeout(timer)
        this.listeners.delete(onMsg)
        fn()
      }
      const onMsg = (m: unknown) => {
        let v: T | undefined
        try {
          v = pick(m)
        } catch (e) {
          finish(() => reject(e))
          return
        }
        if (v !== undefined) finish(() => resolve(v))
      }
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.name}: no answer to ${what} within ${timeoutMs} ms`))), timeoutMs)
      this.listeners.add(onMsg)
      void this.exited.then(() => finish(() => reject(new Error(`${this.name} ${this.describeExit()} while waiting for ${what}`))))
    })
  }
}
