// Contracts of enet. Implementations live beside this file; this file holds
// only the shapes that users, plugins and the core agree on.
import type { Logger } from 'pino'
import type { ServerHooks } from './hooks.ts'
import type { EnetConfig } from './config.ts'

/** `tls`: TCP under TLS; `ws`: one frame per binary WebSocket message. */
export type Protocol = 'tcp' | 'tls' | 'ws' | 'udp' | 'inject'
export type Payload = Buffer | Uint8Array | string

export interface RemoteAddress {
  readonly address: string
  readonly port: number
  readonly family: string
}

/** Why a connection ended; onConnStop receives exactly one, once. */
export type CloseReason =
  | 'peer-closed'
  | 'peer-error'
  | 'server-close'
  | 'idle-timeout'
  /** A UDP session of one datagram that got nothing back, silent for udp.oneShotIdleMs. */
  | 'one-shot-timeout'
  | 'frame-too-large'
  | 'frame-timeout'
  | 'bad-frame'
  | 'slow-consumer'
  | 'kicked'
  /** The heartbeat checker's pings went unanswered (config heartbeat). */
  | 'not-alive'
  /** A UDP session pushed out to make room (udp.maxPeers). */
  | 'evicted'
  | (string & {})

export interface Connection {
  readonly id: number
  readonly protocol: Protocol
  readonly remote: RemoteAddress
  readonly closed: boolean
  /** Resolves with the close reason once the connection has ended. */
  readonly done: Promise<CloseReason>
  /** Queue one message to the peer. Returns false when the connection is closed. */
  send(msgId: number, data?: Payload): boolean
  close(reason?: CloseReason): void
  get<T = unknown>(key: string): T | undefined
  set(key: string, value: unknown): void
  delete(key: string): boolean
}

export interface Request {
  readonly msgId: number
  readonly data: Buffer
  readonly conn: Connection
  readonly remote: RemoteAddress
  /** The payload decoded as UTF-8. */
  text(): string
  reply(msgId: number, data?: Payload): boolean
}

/** A token bucket: `burst` at once, refilled at `perSec`. */
export interface RateLimit {
  readonly perSec: number
  readonly burst: number
  /** Per source over TCP as well (an expensive msgId: the locator's fan-out); UDP always. */
  readonly tcp?: boolean
}

/**
 * What a handler returns is ignored, except that a promise is awaited: so
 * `(req) => req.reply(...)` (a boolean) needs no annotation.
 */
export type HandlerResult = unknown
export type Handler = (req: Request) => HandlerResult

/** zinx's IRouter: PreHandle, Handle, PostHandle run in that order. */
export interface RouterObject {
  preHandle?: Handler
  handle: Handler
  postHandle?: Handler
  /** Exempt this route from per-connection ordering (long waits). */
  concurrent?: boolean
  /** Overrides limits.handlerTimeoutMs for this route. */
  timeoutMs?: number
  /** Per source IP over UDP, checked before a session is made; `udp.rateLimits[msgId]` in the config overrides it. */
  rate?: RateLimit
}

/** Runs the rest of a route's chain and returns its result: return or await it. */
export type Next = () => HandlerResult
/**
 * One step of a route's chain (zinx RouterSlices): `next()` runs the rest;
 * returning without calling it stops the chain there (zinx Abort()), and a
 * throw or rejection stops it and fails the request.
 */
export type Middleware = (req: Request, next: Next) => HandlerResult
/** zinx AddHandler(msgId, ...handlers): middleware first, the route itself last. */
export type RouteChain = readonly [...Middleware[], Handler | RouterObject]
export type RouteDefinition = Handler | RouterObject | RouteChain
export type RouteTable = Record<number, RouteDefinition>

/** The msgIds a route group covers: an inclusive range or a list. */
export type MsgIdSet = { readonly from: number; readonly to: number } | readonly number[]

/** zinx's IGroupRouterSlices: routes added through it get its middleware, after the `use` middleware in force. */
export interface RouteGroup {
  /** Middleware for the routes this group adds from now on (zinx Group.Use). */
  use(...middleware: Middleware[]): this
  /** Add a route inside the group's msgIds: its own middleware, then the route (zinx Group.AddHandler). */
  route(msgId: number, ...chain: [...Middleware[], Handler | RouterObject]): this
}

export type Outcome =
  | { readonly status: 'ok'; readonly ms: number }
  | { readonly status: 'error'; readonly ms: number; readonly error: Error }
  | { readonly status: 'timeout'; readonly ms: number; readonly error: Error }

export interface Reply {
  readonly msgId: number
  readonly data: Buffer
}

export interface InjectOptions {
  msgId: number
  data?: Payload
  protocol?: 'tcp' | 'udp'
  remote?: Partial<RemoteAddress>
}

export interface ConnectionRegistry extends Iterable<Connection> {
  readonly size: number
  get(id: number): Connection | undefined
  closeAll(reason?: CloseReason): void
}

export interface Counters {
  [name: string]: number
}

export interface ServerAddress {
  tcp?: { host: string; port: number }
  udp?: { host: string; port: number }
  ws?: { host: string; port: number }
  tls?: { host: string; port: number }
}

export interface EnetServer {
  readonly hooks: ServerHooks
  readonly log: Logger
  readonly connections: ConnectionRegistry
  readonly counters: Counters
  readonly config: EnetConfig
  /** Register a route owned by `owner` (default: 'app'). Throws ENET_ERR_ROUTE_DUPLICATE on a clash. */
  route(msgId: number, route: RouteDefinition, owner?: string): void
  /** Middleware for the app routes registered from now on, before any group's (zinx Use). */
  use(...middleware: Middleware[]): this
  /** A group of app routes on `msgIds` sharing `middleware` (zinx Group(start, end, ...handlers)). */
  group(msgIds: MsgIdSet, ...middleware: Middleware[]): RouteGroup
  /** Remove the routes of one owner; returns how many were removed. */
  unroute(owner: string): number
  listen(): Promise<ServerAddress>
  address(): ServerAddress
  close(): Promise<void>
  inject(opts: InjectOptions): Promise<Reply[]>
  /** Apply a new config to the running server; returns the keys that need a restart. */
  reconfigure(next: EnetConfig): string[]
}

// ---- Plugins ---------------------------------------------------------------

/** A tap-only view of one hook; taps belong to the plugin version that made them. */
export interface PluginHook<Args extends unknown[], R = void> {
  tap(options: string | { name: string; stage?: number; before?: string | string[] }, fn: (...args: Args) => R): void
}
export interface PluginAsyncHook<Args extends unknown[]> extends PluginHook<Args, void> {
  tapPromise(options: string | { name: string; stage?: number }, fn: (...args: Args) => Promise<void>): void
}

/** What a plugin may do with the server: read, send, count. Routes go through `routes`. */
export interface PluginServer {
  readonly connections: ConnectionRegistry
  readonly counters: Readonly<Counters>
  readonly config: EnetConfig
  address(): ServerAddress
  /** Send one datagram from the server's UDP socket (the way Go enet replies). */
  sendUdp(address: string, port: number, msgId: number, data?: Payload): boolean
  /** Send these bytes as one datagram, with no msgId header (the Go demo's locate queries), under the same reply budgets. */
  sendUdpRaw(address: string, port: number, data: Payload): boolean
  /** The other processes of this server under `enet start --workers N`; null in a single process. */
  readonly cluster: ClusterBus | null
}

/**
 * Topic messages between the workers of one `enet start --workers N`,
 * relayed by the primary. A message reaches every other worker, in the order
 * one worker sent them; never the sender itself.
 */
export interface ClusterBus {
  /** This worker's index, 0 to workers - 1 (worker 0 owns the UDP socket). */
  readonly worker: number
  readonly workers: number
  /** Structured-clone data (Buffers and Maps pass as they are). False when the primary is gone. */
  publish(topic: string, data: unknown): boolean
  /** The returned function ends the subscription; pass `signal` to end it with a plugin version. */
  subscribe(topic: string, fn: (data: unknown, from: number) => void, opts?: { signal?: AbortSignal }): () => void
}

/** One value of a plugin metric; labels name what it counts (a bounded set, never a peer's input). */
export interface MetricSample {
  readonly labels?: Readonly<Record<string, string | number>>
  readonly value: number
}

export interface PluginMetricDefinition {
  /** Snake case; exposed as `enet_<plugin>_<name>`. A counter's name ends in `_total`. */
  name: string
  help: string
  labelNames?: string[]
  /** Read at scrape time: keep counting in your own state (ctx.data), never per message into the metric. */
  collect(): number | readonly MetricSample[]
}

/** Metrics a plugin version declares; the one serving is exposed at GET /metrics. */
export interface PluginMetrics {
  gauge(def: PluginMetricDefinition): void
  counter(def: PluginMetricDefinition): void
}

export interface PluginContext<O = Record<string, unknown>, D extends object = Record<string, any>> {
  readonly name: string
  /** 1 for the first load, +1 per successful reload. */
  readonly version: number
  readonly log: Logger
  readonly options: O
  /** Survives reloads of this plugin (Vite's hot.data). */
  readonly data: D
  readonly hooks: {
    [K in keyof ServerHooks]: ServerHooks[K] extends { tapPromise: unknown }
      ? PluginAsyncHook<HookArgs<ServerHooks[K]>>
      : PluginHook<HookArgs<ServerHooks[K]>, HookReturn<ServerHooks[K]>>
  }
  readonly server: PluginServer
  /** Aborted when this version is disposed. */
  readonly signal: AbortSignal
  /** Timers that end with this version. */
  setInterval(fn: () => void, ms: number): NodeJS.Timeout
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout
  /** Cancel a timer made by ctx.setInterval / ctx.setTimeout. */
  clearTimer(timer: NodeJS.Timeout): void
  onDispose(fn: () => void | Promise<void>): void
  /** Announce something to other plugins: calls the onPluginMessage hook with `<plugin>:<topic>`. */
  emit(topic: string, payload?: unknown): void
  /** The API another plugin's setup returned; it must be listed in `dependencies`. Look it up per use: a reload replaces it. */
  use<T = unknown>(plugin: string): T
  /**
   * This version needs UDP sources to prove their address before they get
   * replies larger than what they sent (a cookie round trip): `udp.strict: 'auto'`
   * turns on while any live plugin version asks for it.
   */
  requireAddressValidation(): void
  /** Declare metrics collected at scrape time (GET /metrics). */
  readonly metrics: PluginMetrics
  /**
   * What this plugin shows in `enet status`, GET /status and the dashboard:
   * a JSON-able object, read when asked; an array of flat objects is shown as a table.
   */
  report(fn: () => Record<string, unknown>): void
}

type HookArgs<H> = H extends { call: (...args: infer A) => unknown } ? A : H extends { promise: (...args: infer A) => unknown } ? A : never
type HookReturn<H> = H extends { call: (...args: never[]) => infer R } ? R : void

export interface PluginDefinition<O extends Record<string, unknown> = Record<string, unknown>, API = unknown> {
  name: string
  /** Defaults for the options; the config's `plugins.options[name]` is merged over them. */
  options?: O
  /** Plugins whose API this one uses through ctx.use(); loaded first. */
  dependencies?: string[]
  routes?: RouteTable | ((ctx: PluginContext<O>) => RouteTable)
  /** Middleware in front of every route of this plugin; goes with the version on reload. */
  middleware?: Middleware[]
  /** Per source IP rate limits over UDP for this plugin's msgIds (as a route's `rate`); `udp.rateLimits` in the config overrides them. */
  rateLimits?: Record<number, RateLimit>
  /** May return an API for dependents; may be async (bounded by plugins.setupTimeoutMs). */
  setup?(ctx: PluginContext<O>): API | Promise<API>
  dispose?(ctx: PluginContext<O>): void | Promise<void>
}
