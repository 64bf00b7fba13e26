// createServer: wires codec, transports, connections, router, dispatch and
// hooks; listen, close, inject, reconfigure.
import type { DestinationStream, Logger } from 'pino'
import { datagramCodec, frameCodec, toBuffer } from '../wire/codec.ts'
import { diffConfig, liveConfig, resolveConfig, type EnetConfig, type EnetConfigInput } from '../config.ts'
import { BaseConnection, clock } from './connection.ts'
import { ConnectionManager } from './connection-manager.ts'
import { createCounters, Dispatcher, type CounterName } from './dispatch.ts'
import { EnetError } from '../errors.ts'
import { callHook, createHooks } from '../hooks.ts'
import { HeartbeatChecker } from './heartbeat.ts'
import { createLogger } from './logger.ts'
import { RateLimitedLog } from './log-limit.ts'
import { assertMiddleware, createGroup, prepend } from './middleware.ts'
import { SourceRates } from './source-rates.ts'
import { compileRoute, Router } from './router.ts'
import { inject } from '../transport/inject.ts'
import { TcpTransport } from '../transport/tcp.ts'
import type { TlsTransport } from '../transport/tls.ts'
import type { WsTransport } from '../transport/ws.ts'
import type { TransportHost } from '../transport/context.ts'
import type { StreamProtocol } from '../transport/stream.ts'
import { UdpTransport } from '../transport/udp.ts'
import type { CloseReason, EnetServer, InjectOptions, Middleware, MsgIdSet, Payload, Reply, RouteDefinition, RouteGroup, ServerAddress } from '../types.ts'

/** How soon a queue past OUTBOUND_CHECK_BYTES gets the global outbound budget checked. */
const OUTBOUND_CHECK_MS = 10

/** Bytes in and out of one transport since listen. */
export interface Bytes {
  in: number
  out: number
}

/** The transports server.traffic() counts bytes of, each always present. */
export const TRAFFIC_PROTOCOLS = ['tcp', 'udp', 'ws', 'tls'] as const

/**
 * What server.traffic() answers. Every transport counts the bytes of enet's
 * own frames, header included, whatever carries them: TCP's socket counts,
 * TLS's application bytes (records and the handshake left out), WebSocket's
 * message payloads (WebSocket frame headers, masks and the upgrade left out),
 * UDP's datagram payloads. So a message counts the same bytes on TCP, TLS and WebSocket.
 */
export interface Traffic extends Record<(typeof TRAFFIC_PROTOCOLS)[number], Bytes> {
  /** Bytes written to stream connections and not yet taken by the peer's transport. */
  outboundQueued: number
}

export interface ServerOptions {
  /** Use this logger instead of creating one from config.log. */
  logger?: Logger
  /** Write JSON log lines here (tests parse them). */
  logStream?: DestinationStream
}

const CLOSE_COUNTERS: Partial<Record<string, CounterName>> = {
  'frame-timeout': 'closed.frame-timeout',
  'idle-timeout': 'closed.idle-timeout',
  'not-alive': 'closed.not-alive',
  'one-shot-timeout': 'closed.one-shot-timeout',
}

export class Server implements EnetServer, TransportHost {
  readonly hooks = createHooks()
  readonly router = new Router()
  readonly counters = createCounters()
  readonly manager = new ConnectionManager()
  readonly dispatcher: Dispatcher
  readonly rlog: RateLimitedLog
  readonly rates = new SourceRates()
  readonly heartbeat: HeartbeatChecker
  config: EnetConfig
  log: Logger
  private tcp: TcpTransport | null = null
  private udp: UdpTransport | null = null
  private ws: WsTransport | null = null
  private tls: TlsTransport | null = null
  private bound: ServerAddress = {}
  private sweeper: NodeJS.Timeout | null = null
  /** A pending check of the global outbound budget (outboundGrew). */
  private outboundCheck: NodeJS.Timeout | undefined = undefined
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new'
  /** Bytes of stream connections that have ended, by protocol; live ones are read from their connections (traffic()). */
  private readonly closedBytes: Record<StreamProtocol, Bytes> = { tcp: { in: 0, out: 0 }, ws: { in: 0, out: 0 }, tls: { in: 0, out: 0 } }
  private closing: Promise<void> | null = null

  constructor(config: EnetConfig, options: ServerOptions = {}) {
    this.config = config
    this.log = options.logger ?? createLogger(config, options.logStream)
    this.rlog = new RateLimitedLog(() => this.log)
    this.dispatcher = new Dispatcher(
      { router: this.router, hooks: this.hooks, counters: this.counters, rlog: this.rlog, rates: this.rates, log: () => this.log },
      config,
    )
    this.heartbeat = new HeartbeatChecker({
      manager: this.manager,
      router: this.router,
      hooks: this.hooks,
      rlog: this.rlog,
      counters: this.counters,
      log: () => this.log,
    })
    this.heartbeat.apply(config.heartbeat)
  }

  get connections(): ConnectionManager {
    return this.manager
  }

  /** server.use() middleware so far; each route takes the list as it stands when it is added. */
  private appMiddleware: readonly Middleware[] = []

  route(msgId: number, def: RouteDefinition, owner = 'app'): void {
    this.router.add(compileRoute(msgId, prepend(this.appMiddleware, def), owner))
  }

  use(...middleware: Middleware[]): this {
    assertMiddleware(middleware, 'server.use()')
    this.appMiddleware = [...this.appMiddleware, ...middleware]
    return this
  }

  group(msgIds: MsgIdSet, ...middleware: Middleware[]): RouteGroup {
    // The group puts the use() middleware in front itself, read per route.
    return createGroup(msgIds, middleware, (msgId, def) => this.router.add(compileRoute(msgId, def, 'app')), 'app', () => this.appMiddleware)
  }

  sendUdp(address: string, port: number, msgId: number, data?: Payload): boolean {
    if (this.udp === null) return false
    return this.udp.sendTo(this.udp.codec.encode(msgId, toBuffer(data)), port, address)
  }

  sendUdpRaw(address: string, port: number, data: Payload): boolean {
    if (this.udp === null) return false
    return this.udp.sendTo(Buffer.from(toBuffer(data)), port, address)
  }

  /** Owners (plugin versions) that asked for UDP address validation. */
  private readonly validationOwners = new Set<object>()

  get addressValidationRequired(): boolean {
    return this.validationOwners.size > 0
  }

  /** Hold UDP address validation on (`udp.strict: 'auto'`) until the returned release is called. */
  requireAddressValidation(owner: object): () => void {
    const before = this.validationOwners.size
    this.validationOwners.add(owner)
    if (before === 0) this.udp?.reconfigure()
    return () => {
      if (this.validationOwners.delete(owner) && this.validationOwners.size === 0) this.udp?.reconfigure()
    }
  }

  unroute(owner: string): number {
    return this.router.removeOwner(owner)
  }

  count(name: CounterName): void {
    this.counters[name]++
  }

  opened(conn: BaseConnection): void {
    this.manager.add(conn)
    callHook(this.hooks, 'onConnStart', this.log, conn)
  }

  connectionClosed(conn: BaseConnection, reason: CloseReason): void {
    this.manager.remove(conn)
    this.dispatcher.forget(conn)
    const closed = this.closedBytes[conn.protocol as StreamProtocol] as Bytes | undefined
    if (closed !== undefined) {
      closed.in += conn.bytesIn
      closed.out += conn.bytesOut
    }
    const counter = CLOSE_COUNTERS[reason]
    if (counter) this.counters[counter]++
    callHook(this.hooks, 'onConnStop', this.log, conn, reason)
  }

  async listen(): Promise<ServerAddress> {
    if (this.state !== 'new') throw new EnetError('ENET_ERR_SERVER_CLOSED')
    const { tcp, udp, ws, tls } = this.config
    try {
      if (tcp.enabled) {
        this.tcp = new TcpTransport(this, frameCodec(tcp.codec))
        this.bound.tcp = await this.tcp.listen(tcp.host, tcp.port).catch(cannotListen('tcp', tcp))
      }
      if (udp.enabled) {
        this.udp = new UdpTransport(this, datagramCodec(udp.codec))
        this.bound.udp = await this.udp.listen(udp.host, udp.port).catch(cannotListen('udp', udp))
      }
      // WebSocket and TLS carry the TCP codec's frames.
      // Loaded when turned on: a server without them pays nothing for ws or tls at start.
      if (ws.enabled) {
        const { WsTransport } = await import('../transport/ws.ts')
        this.ws = new WsTransport(this, frameCodec(tcp.codec))
        this.bound.ws = await this.ws.listen(ws.host, ws.port).catch(cannotListen('ws', ws))
      }
      if (tls.enabled) {
        const { TlsTransport } = await import('../transport/tls.ts')
        this.tls = new TlsTransport(this, frameCodec(tcp.codec), tls)
        this.bound.tls = await this.tls.listen(tls.host, tls.port).catch(cannotListen('tls', tls))
      }
    } catch (err) {
      await Promise.all([this.tcp?.stopAccepting(), this.ws?.stopAccepting(), this.tls?.stopAccepting(), this.udp?.close()])
      throw err
    }
    this.state = 'listening'
    this.startSweeper()
    this.heartbeat.start()
    this.log.info(this.bound, 'listening')
    callHook(this.hooks, 'onListen', this.log, this.bound)
    return this.address()
  }

  address(): ServerAddress {
    return { ...this.bound }
  }

  /** Bytes in and out per transport since listen, and what waits unsent now: summed when asked, not per message. */
  traffic(): Traffic {
    const { tcp, ws, tls } = this.closedBytes
    const live: Record<StreamProtocol, Bytes> = { tcp: { ...tcp }, ws: { ...ws }, tls: { ...tls } }
    let outboundQueued = 0
    for (const conn of this.manager) {
      outboundQueued += conn.unsent
      const bytes = live[conn.protocol as StreamProtocol] as Bytes | undefined
      if (bytes === undefined) continue
      bytes.in += conn.bytesIn
      bytes.out += conn.bytesOut
    }
    return { tcp: live.tcp, udp: { in: this.udp?.bytesIn ?? 0, out: this.udp?.bytesOut ?? 0 }, ws: live.ws, tls: live.tls, outboundQueued }
  }

  /** One timer for every deadline that needs no precision finer than its period: idle peers and half-sent frames. */
  private startSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper)
    const { frameTimeoutMs, idleTimeoutMs } = this.config.limits
    const period = Math.min(1000, Math.max(10, Math.floor(Math.min(frameTimeoutMs, idleTimeoutMs) / 5)))
    this.sweeper = setInterval(() => this.sweep(), period)
    this.sweeper.unref()
  }

  private sweep(): void {
    const now = clock()
    const limits = this.config.limits
    let outbound = 0
    for (const conn of this.manager) {
      outbound += conn.unsent
      conn.checkDeadlines(now, limits)
    }
    // The backstop for many queues each under OUTBOUND_CHECK_BYTES.
    this.shedOutbound(outbound)
  }

  /** A queue grew large: sum every queue within OUTBOUND_CHECK_MS, not at the next sweep (up to 1 s). */
  outboundGrew(): void {
    this.outboundCheck ??= setTimeout(() => {
      this.outboundCheck = undefined
      let total = 0
      for (const conn of this.manager) total += conn.unsent
      this.shedOutbound(total)
    }, OUTBOUND_CHECK_MS).unref()
  }

  /** Over the global outbound budget: close the connections with the most unsent bytes first. */
  private shedOutbound(total: number): void {
    const budget = this.config.limits.maxOutboundTotalBytes
    if (total <= budget) return
    const queued = [...this.manager].filter((c) => c.unsent > 0).sort((a, b) => b.unsent - a.unsent)
    for (const conn of queued) {
      if (total <= budget) break
      total -= conn.unsent
      this.counters['closed.outbound-budget']++
      this.rlog.warn('outbound-budget', { conn: conn.id, remote: `${conn.remote.address}:${conn.remote.port}`, unsent: conn.unsent, total, budget }, 'closing connection: global outbound budget exceeded, largest queue first')
      conn.close('slow-consumer')
    }
  }

  async inject(opts: InjectOptions): Promise<Reply[]> {
    return inject(this.dispatcher, opts)
  }

  reconfigure(next: EnetConfig): string[] {
    const { changed, restartNeeded } = diffConfig(this.config, next)
    // Settings that cannot change live keep their running value until a restart.
    const applied = liveConfig(this.config, next)
    const restart = [...restartNeeded]
    // Turning client certificates on or off changes the server, not only its certificate.
    if ((this.config.tls.ca === undefined) !== (next.tls.ca === undefined)) {
      restart.push('tls.ca')
      applied.tls = { ...applied.tls, ca: this.config.tls.ca }
    }
    if (changed.some((k) => k === 'heartbeat' || k.startsWith('heartbeat.'))) {
      try {
        this.heartbeat.apply(next.heartbeat)
      } catch (err) {
        // pingMsgId taken by a route: the checker keeps its old settings.
        this.log.error({ err, key: 'heartbeat' }, `config: heartbeat: ${(err as Error).message}; keeping the previous heartbeat settings`)
        applied.heartbeat = this.config.heartbeat
      }
    }
    this.config = applied
    this.dispatcher.config = applied
    if (this.log.level !== applied.log.level) this.log.level = applied.log.level
    if (changed.includes('limits.maxPacketSize')) {
      for (const conn of this.manager) conn.limitsChanged(applied.limits)
    }
    if (changed.some((k) => k.startsWith('limits.')) && this.state === 'listening') this.startSweeper()
    if (changed.some((k) => k.startsWith('udp.rateLimits'))) this.rates.clear()
    if (changed.some((k) => k.startsWith('udp.'))) this.udp?.reconfigure()
    if (changed.some((k) => /^tls\.(cert|key|ca)$/.test(k))) this.tls?.reloadCertificate(applied.tls)
    return restart
  }

  /**
   * Read the TLS certificate files again: new handshakes get the new
   * certificate, open connections keep theirs. False (and an error line naming
   * the file) when they do not load; the certificate in use stays. startApp
   * calls this when the files change; a createServer user calls it (on SIGHUP, say).
   */
  reloadCertificate(): boolean {
    return this.tls?.reloadCertificate() ?? false
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown()
    return this.closing
  }

  private async shutdown(): Promise<void> {
    const wasListening = this.state === 'listening'
    this.state = 'closing'
    const tcpClosed = Promise.all([this.tcp?.stopAccepting(), this.ws?.stopAccepting(), this.tls?.stopAccepting()])
    this.udp?.stopAccepting()
    const drained = await this.dispatcher.whenIdle(this.config.limits.drainTimeoutMs)
    if (!drained) this.log.warn({ active: this.dispatcher.active, ms: this.config.limits.drainTimeoutMs }, 'drain timeout: closing with requests still running')
    this.manager.closeAll('server-close')
    clearTimeout(this.outboundCheck)
    if (this.sweeper) clearInterval(this.sweeper)
    this.heartbeat.stop()
    try {
      await this.hooks.onClose.promise()
    } catch (err) {
      this.log.error({ err, hook: 'onClose' }, 'onClose tap threw')
    }
    await this.udp?.close()
    await tcpClosed
    this.state = 'closed'
    if (wasListening) this.log.info('closed')
    await new Promise<void>((resolve) => this.log.flush(() => resolve()))
  }
}

export function createServer(input: EnetConfigInput | EnetConfig = {}, options: ServerOptions = {}): Server {
  return new Server(resolveConfig(input), options)
}

/** A port in use, an address not on this host, a name that does not resolve: one line naming the key. */
function cannotListen(protocol: 'tcp' | 'udp' | 'ws' | 'tls', at: { host: string; port: number }) {
  return (err: NodeJS.ErrnoException): never => {
    throw new EnetError('ENET_ERR_LISTEN', [protocol, `${at.host}:${at.port}`, err.code ?? err.message], { cause: err })
  }
}
