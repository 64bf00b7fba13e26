// Contracts of enet. Implementations live beside this file; this file holds
// only the shapes that users, plugins and the core agree on.
import type { Logger } from 'pino'
import type { ServerHooks } from './hooks.ts'
import type { EnetConfig } from './config.ts'

export type Protocol = 'tcp' | 'udp' | 'inject'
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
  | 'frame-too-large'
  | 'frame-timeout'
  | 'bad-frame'
  | 'slow-consumer'
  | 'kicked'
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

export type HandlerResult = void | Promise<void>
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
}

export type RouteDefinition = Handler | RouterObject
export type RouteTable = Record<number, RouteDefinition>

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
}

export interface EnetServer {
  readonly hooks: ServerHooks
  readonly log: Logger
  readonly connections: ConnectionRegistry
  readonly counters: Counters
  readonly config: EnetConfig
  /** Register a route owned by `owner` (default: 'app'). Throws ENET_ERR_ROUTE_DUPLICATE on a clash. */
  route(msgId: number, route: RouteDefinition, owner?: string): void
  /** Remove the routes of one owner; returns how many were removed. */
  unroute(owner: string): number
  listen(): Promise<ServerAddress>
  address(): ServerAddress
  close(): Promise<void>
  inject(opts: InjectOptions): Promise<Reply[]>
  /** Apply a new config to the running server; returns the keys that need a restart. */
  reconfigure(next: EnetConfig): string[]
}
