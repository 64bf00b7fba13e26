// Types of the browser client (browser.js): the Node client's API over the browser's WebSocket.

export type Payload = string | Uint8Array | ArrayBuffer | ArrayBufferView

export interface Message {
  msgId: number
  data: Uint8Array
  /** The data decoded as UTF-8. */
  text(): string
}

export interface ReconnectOptions {
  initialMs?: number
  maxMs?: number
  factor?: number
  jitter?: number
  stableMs?: number
}

export interface BrowserClientOptions {
  /** Largest data size accepted from the server; default 1 MiB. */
  maxPacketSize?: number
  /** Default on: 100 ms, ×2, at most 5 s, ±50% jitter. */
  reconnect?: boolean | ReconnectOptions
  /** Bytes sent while not connected, or not yet taken by the server, up to this bound; default 1 MiB. */
  maxQueuedBytes?: number
  /** The server's heartbeat ping (default msgId 99999, zinx's) is answered and not emitted; false: pings are ordinary messages. */
  heartbeat?: false | { pingMsgId?: number }
}

export interface RequestOptions {
  /** The msgId of the expected reply; default the request's msgId. */
  replyId?: number
  timeoutMs?: number
}

export class EnetError extends Error {
  readonly code: string
}

export interface BrowserClient {
  readonly url: string
  readonly protocol: 'ws'
  readonly connected: boolean
  ready(): Promise<void>
  send(msgId: number, data?: Payload): void
  request(msgId: number, data?: Payload, opts?: RequestOptions): Promise<Message>
  on(event: 'message', fn: (m: Message) => void): this
  on(event: 'connect', fn: () => void): this
  on(event: 'disconnect', fn: (reason: string) => void): this
  on(event: 'error', fn: (err: Error) => void): this
  off(event: string, fn: (...args: never[]) => void): this
  close(): Promise<void>
}

export function connect(url: string, opts?: BrowserClientOptions): BrowserClient
export function encode(msgId: number, data?: Payload): Uint8Array
export function decode(buffer: ArrayBuffer, maxPacketSize?: number): Message
