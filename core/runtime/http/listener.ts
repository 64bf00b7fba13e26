// The HTTP admin listener: GET /metrics (Prometheus text), /status (JSON),
// /events (the dashboard's server-sent events) and / (the dashboard page).
//
// node:http and no framework: four fixed GET routes, one auth rule and a few
// headers are all it does, and the dependency-free listener keeps what runs
// beside the message server small (one less thing to audit and update).
import { createHash, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import { isLoopbackHost } from '../../config.ts'
import { EnetError } from '../../errors.ts'
import { requestDeadline } from '../../transport/context.ts'
import type { Status } from '../status.ts'
import { DASHBOARD_HTML } from './dashboard.ts'
import type { Feed } from './feed.ts'

export interface HttpOptions {
  host: string
  port: number
  /** Required for /metrics, /status and /events when set (Authorization: Bearer). */
  token?: string
}

export interface HttpRoutes {
  log: Logger
  /** The Prometheus text and its content type. */
  metrics(): Promise<{ text: string; contentType: string }>
  status(): Status | Promise<Status>
  feed: Feed
}

/** A request must arrive whole within this (slowloris on the admin port). */
export const REQUEST_TIMEOUT_MS = 10_000
/** Sockets at once; past it Node closes new ones at accept. */
export const MAX_SOCKETS = 64

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}
const PAGE_HEADERS = {
  ...SECURITY_HEADERS,
  'content-type': 'text/html; charset=utf-8',
  'x-frame-options': 'DENY',
  // The page is one file: its own inline script and style, data from this origin only.
  'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}

export class HttpListener {
  private readonly server: http.Server
  private readonly token: Buffer | null

  constructor(
    private readonly opts: HttpOptions,
    private readonly routes: HttpRoutes,
    /** REQUEST_TIMEOUT_MS unless a test asks for less. */
    requestTimeoutMs = REQUEST_TIMEOUT_MS,
  ) {
    this.token = opts.token === undefined ? null : digest(opts.token)
    this.server = http.createServer(requestDeadline(requestTimeoutMs), (req, res) => void this.handle(req, res))
    this.server.maxConnections = MAX_SOCKETS
    this.server.on('error', (err) => routes.log.error({ err }, 'http listener error'))
  }

  listen(): Promise<{ host: string; port: number }> {
    const { host, port } = this.opts
    return new Promise((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException) => reject(new EnetError('ENET_ERR_LISTEN', ['http', `${host}:${port}`, err.code ?? err.message], { cause: err }))
      this.server.once('error', fail)
      this.server.listen({ host, port }, () => {
        this.server.off('error', fail)
        const a = this.server.address() as AddressInfo
        resolve({ host: a.address, port: a.port })
      })
    })
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'only GET\n', { allow: 'GET, HEAD' })
    const refusal = this.refuse(req, path)
    if (refusal) return plain(res, refusal.code, refusal.text + '\n', refusal.headers)
    try {
      switch (path) {
        case '/':
          return whole(res, req, PAGE_HEADERS, DASHBOARD_HTML)
        case '/metrics': {
          const { text, contentType } = await this.routes.metrics()
          return whole(res, req, { ...SECURITY_HEADERS, 'content-type': contentType }, text)
        }
        case '/status':
          return whole(res, req, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' }, JSON.stringify(await this.routes.status()))
        case '/events':
          await this.routes.feed.subscribe(res)
          return
        default:
          return plain(res, 404, 'not found: try /, /metrics, /status or /events\n')
      }
    } catch (err) {
      this.routes.log.error({ err, path }, `http ${path} failed`)
      if (!res.headersSent) plain(res, 500, `${path} failed: ${(err as Error).message}\n`)
      else res.destroy()
    }
  }

  /**
   * The page itself holds no data and is served to anyone who reaches the
   * port; the data needs the token when one is set. Without a token (loopback
   * only) the Host header must name this host too: a web page the operator
   * visits cannot rebind its own name to 127.0.0.1 and read the status.
   */
  private refuse(req: http.IncomingMessage, path: string | undefined): { code: number; text: string; headers?: Record<string, string> } | null {
    if (this.token === null) {
      const host = hostOf(req.headers.host)
      if (host === null || !isLoopbackHost(host)) return { code: 403, text: `Host ${JSON.stringify(req.headers.host ?? '')} is not a loopback name; without http.token only localhost, 127.0.0.1 and [::1] are served` }
      return null
    }
    if (path === '/') return null
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')
    if (m === null || !timingSafeEqual(digest(m[1]!), this.token)) return { code: 401, text: 'missing or wrong token: send Authorization: Bearer <http.token>', headers: { 'www-authenticate': 'Bearer' } }
    return null
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }
}

/** Hashes are compared, not the tokens: equal lengths for timingSafeEqual, and no early exit on length. */
const digest = (s: string) => createHash('sha256').update(s).digest()

/** `localhost:9430` → localhost, `[::1]:9430` → ::1. */
function hostOf(header: string | undefined): string | null {
  if (!header) return null
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header) ?? /^([^:]+)(?::\d+)?$/.exec(header)
  return m ? m[1]!.toLowerCase() : null
}

/** Every answer but /events: sent whole with its Content-Length (not chunked), the body left out for HEAD. */
function respond(res: http.ServerResponse, code: number, headers: Record<string, string>, body: string, head = false): void {
  res.writeHead(code, { ...headers, 'content-length': String(Buffer.byteLength(body)) }).end(head ? undefined : body)
}

function whole(res: http.ServerResponse, req: http.IncomingMessage, headers: Record<string, string>, body: string): void {
  respond(res, 200, headers, body, req.method === 'HEAD')
}

function plain(res: http.ServerResponse, code: number, text: string, headers: Record<string, string> = {}): void {
  respond(res, code, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', ...headers }, text)
}
