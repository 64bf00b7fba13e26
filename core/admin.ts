// A local control socket (a Unix socket beside the config): one JSON line in,
// one JSON line out. `enet plugins` and `enet reload` talk to it. Only local
// users with access to the file can reach it; peers on the network cannot.
import { mkdirSync, rmSync } from 'node:fs'
import net from 'node:net'
import { dirname } from 'node:path'
import type { PluginHost } from './plugin/host.ts'
import type { Server } from './server.ts'

export type AdminRequest = { cmd: 'plugins' } | { cmd: 'reload'; name: string } | { cmd: 'status' }

const MAX_REQUEST_BYTES = 4096

export class AdminSocket {
  private readonly server: net.Server

  constructor(
    readonly path: string,
    private readonly enet: Server,
    private readonly plugins: PluginHost,
  ) {
    this.server = net.createServer((socket) => this.serve(socket))
    this.server.on('error', (err) => enet.log.error({ err, path }, 'admin socket error'))
  }

  listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true })
    // A socket file left by a killed server would make listen fail with EADDRINUSE.
    rmSync(this.path, { force: true })
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.path, () => {
        this.server.off('error', reject)
        resolve()
      })
    })
  }

  private serve(socket: net.Socket): void {
    let buf = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (chunk: string) => {
      buf += chunk
      if (buf.length > MAX_REQUEST_BYTES) return void socket.end(JSON.stringify({ ok: false, error: 'request too large' }) + '\n')
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      socket.pause()
      this.answer(buf.slice(0, nl)).then((reply) => socket.end(JSON.stringify(reply) + '\n'))
    })
  }

  private async answer(line: string): Promise<object> {
    let req: AdminRequest
    try {
      req = JSON.parse(line) as AdminRequest
    } catch {
      return { ok: false, error: 'expected one JSON line' }
    }
    try {
      switch (req.cmd) {
        case 'plugins':
          return { ok: true, plugins: this.plugins.list() }
        case 'reload':
          return { ok: true, plugin: await this.plugins.reload(String(req.name)) }
        case 'status':
          return { ok: true, address: this.enet.address(), connections: this.enet.connections.size, counters: this.enet.counters }
        default:
          return { ok: false, error: `unknown cmd ${JSON.stringify((req as { cmd?: unknown }).cmd)}` }
      }
    } catch (err) {
      return { ok: false, error: (err as Error).message }
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
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
