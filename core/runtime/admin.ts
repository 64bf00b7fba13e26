// A local control socket (a Unix socket beside the config): one JSON line in,
// one JSON line out. `enet plugins` and `enet reload` talk to it. Only local
// users with access to the file can reach it; peers on the network cannot.
import { chmodSync, lstatSync, rmSync } from 'node:fs'
import net from 'node:net'
import { dirname } from 'node:path'
import { EnetError } from '../errors.ts'
import { ensurePrivateDir } from './private-dir.ts'
import type { Logger } from 'pino'
import type { PluginHost } from './plugin/host.ts'
import type { Server } from '../engine/server.ts'
import { statusSnapshot, type Status } from './status.ts'

export type AdminRequest = { cmd: 'plugins' } | { cmd: 'reload'; name: string } | { cmd: 'status' }
/** Answers one parsed request line: the server's own (localAdmin), or the cluster primary's, which asks every worker. */
export type AdminResponder = (req: AdminRequest) => Promise<object>

const MAX_REQUEST_BYTES = 4096
/**
 * How long a connection may take to send its one line. `enet plugins` sends it
 * as soon as it connects; without a bound, silent connections pile up (2,000
 * stayed open in a test) and each holds a file descriptor.
 */
export const ADMIN_IDLE_MS = 10_000

export interface AdminSocketOptions {
  /** Close a connection that has not sent a full line within this many ms. */
  idleMs?: number
}

export class AdminSocket {
  private readonly server: net.Server
  private readonly sockets = new Set<net.Socket>()
  private readonly idleMs: number

  constructor(
    readonly path: string,
    log: Logger,
    private readonly respond: AdminResponder,
    opts: AdminSocketOptions = {},
  ) {
    this.idleMs = opts.idleMs ?? ADMIN_IDLE_MS
    this.server = net.createServer((socket) => this.serve(socket))
    this.server.on('error', (err) => log.error({ err, path }, 'admin socket error'))
  }

  /**
   * Whoever can open the socket can reload plugins: it lives in a folder of
   * mode 0700 and is itself 0600. A socket file left by a killed server is
   * removed; one a running server still answers on is not.
   */
  async listen(): Promise<void> {
    const fail = (why: string) => new EnetError('ENET_ERR_ADMIN_SOCKET', [this.path, why])
    const problem = ensurePrivateDir(dirname(this.path))
    if (problem !== null) throw fail(`its folder ${dirname(this.path)} ${problem}`)
    const existing = lstatOrNull(this.path)
    if (existing !== null) {
      if (!existing.isSocket()) throw fail('exists and is not a socket')
      if (await answers(this.path)) throw fail('a running server listens on it (stop it, or give this one another admin.socket)')
      rmSync(this.path, { force: true })
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.path, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    chmodSync(this.path, 0o600)
  }

  private serve(socket: net.Socket): void {
    let buf = ''
    let done = false
    this.sockets.add(socket)
    // After the answer, close without waiting for the peer to end its side.
    const reply = (answer: object) => socket.end(toJson(answer) + '\n', () => socket.destroy())
    // A deadline from connect, not an inactivity timer: a byte every few seconds must not keep a connection open.
    const idle = setTimeout(() => {
      done = true
      reply({ ok: false, error: `no request line within ${this.idleMs} ms` })
    }, this.idleMs)
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(idle)
      this.sockets.delete(socket)
    })
    socket.on('data', (chunk: string) => {
      if (done) return
      buf += chunk
      const nl = buf.indexOf('\n')
      if (nl < 0 && buf.length <= MAX_REQUEST_BYTES) return
      done = true
      clearTimeout(idle)
      socket.pause()
      if (nl < 0 || nl > MAX_REQUEST_BYTES) return reply({ ok: false, error: 'request too large' })
      void this.answer(buf.slice(0, nl)).then(reply)
    })
  }

  private async answer(line: string): Promise<object> {
    let req: AdminRequest
    try {
      req = JSON.parse(line) as AdminRequest
    } catch {
      return { ok: false, error: 'expected one JSON line' }
    }
    if (typeof req !== 'object' || req === null) return { ok: false, error: 'expected a JSON object with a cmd' }
    if (req.cmd === 'reload' && (typeof req.name !== 'string' || req.name === '')) return { ok: false, error: `reload needs a plugin name, got ${JSON.stringify(req.name)}` }
    if (req.cmd !== 'plugins' && req.cmd !== 'reload' && req.cmd !== 'status') return { ok: false, error: `unknown cmd ${JSON.stringify((req as { cmd?: unknown }).cmd)}` }
    try {
      return await this.respond(req)
    } catch (err) {
      return { ok: false, error: (err as Error).message }
    }
  }

  /** Stops listening and drops open connections: server.close() alone would wait for them. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const socket of this.sockets) socket.destroy()
    return closed
  }
}

/** The answers of one server process (a request already checked by AdminSocket); `status` is the app's snapshot. */
export function localAdmin(enet: Server, plugins: PluginHost, status: () => Status = () => statusSnapshot(enet, plugins)): AdminResponder {
  return async (req) => {
    switch (req.cmd) {
      case 'plugins':
        return { ok: true, plugins: plugins.list() }
      case 'reload':
        return { ok: true, plugin: await plugins.reload(req.name) }
      case 'status':
        return { ok: true, ...status() }
    }
  }
}

/** Send one request to a running server's admin socket. */
export function adminRequest(path: string, req: AdminRequest, timeoutMs = 5_000): Promise<{ ok: boolean; error?: string; [k: string]: unknown }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path)
    let buf = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(JSON.stringify(req) + '\n'))
    socket.on('data', (c: string) => (buf += c))
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(new Error(`cannot reach the server's admin socket ${path}: ${(err as NodeJS.ErrnoException).code ?? err.message} (is it running?)`))
    })
    socket.on('end', () => {
      clearTimeout(timer)
      try {
        resolve(JSON.parse(buf))
      } catch {
        reject(new Error(`bad answer from ${path}`))
      }
    })
  })
}

function lstatOrNull(path: string) {
  try {
    return lstatSync(path)
  } catch {
    return null
  }
}

/** True when something accepts a connection on the Unix socket `path` (a live server, not a stale file). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(path)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** An answer as one JSON line; what cannot be serialized becomes an error answer, never a throw. */
function toJson(answer: object): string {
  try {
    return JSON.stringify(answer)
  } catch (err) {
    return JSON.stringify({ ok: false, error: `answer not serializable: ${(err as Error).message}` })
  }
}
