// What a transport needs from the server that owns it.
import type { Logger } from 'pino'
import type { BaseConnection, ConnectionOwner } from '../connection.ts'
import type { EnetConfig } from '../config.ts'
import type { ConnectionManager } from '../connections.ts'
import type { CounterName, Dispatcher } from '../dispatch.ts'
import type { RateLimitedLog } from '../ratelog.ts'

export interface TransportHost extends ConnectionOwner {
  readonly config: EnetConfig
  readonly dispatcher: Dispatcher
  readonly manager: ConnectionManager
  readonly rlog: RateLimitedLog
  readonly log: Logger
  count(name: CounterName): void
  /** A connection's unsent bytes passed OUTBOUND_CHECK_BYTES: check the global outbound budget soon. */
  outboundGrew(): void
  /** Register a new connection and fire onConnStart. */
  opened(conn: BaseConnection): void
}

/** Unsent bytes on one connection past which a write asks for a check of the global outbound budget. */
export const OUTBOUND_CHECK_BYTES = 64 * 1024
