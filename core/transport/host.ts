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
  /** Register a new connection and fire onConnStart. */
  opened(conn: BaseConnection): void
}
