// What a transport needs from the server that owns it.
import type { Logger } from 'pino'
import type { BaseConnection, ConnectionOwner } from '../engine/connection.ts'
import type { EnetConfig } from '../config.ts'
import type { ConnectionManager } from '../engine/connection-manager.ts'
import type { CounterName, Dispatcher } from '../engine/dispatch.ts'
import type { RateLimitedLog } from '../engine/log-limit.ts'
import type { SourceRates } from '../engine/source-rates.ts'
import type { Router } from '../engine/router.ts'

export interface TransportHost extends ConnectionOwner {
  readonly config: EnetConfig
  readonly dispatcher: Dispatcher
  readonly router: Router
  /** Some plugin version asked for UDP address validation (udp.strict 'auto'). */
  readonly addressValidationRequired: boolean
  readonly manager: ConnectionManager
  readonly rlog: RateLimitedLog
  /** Per-source request rates, shared by the transports. */
  readonly rates: SourceRates
  readonly log: Logger
  count(name: CounterName): void
  /** A connection's unsent bytes passed OUTBOUND_CHECK_BYTES: check the global outbound budget within OUTBOUND_CHECK_MS. */
  outboundGrew(): void
  /** Register a new connection and fire onConnStart. */
  opened(conn: BaseConnection): void
}

/**
 * Unsent bytes on one connection past which a write asks for a check of the
 * global outbound budget. Above what a busy, reading peer keeps queued (the
 * benchmark's 16 × 4 KiB in flight stays under it), so it costs nothing then.
 */
export const OUTBOUND_CHECK_BYTES = 256 * 1024

/**
 * node:http options for a server whose requests must arrive whole within
 * `ms` (slowloris): the WebSocket upgrade and the HTTP admin listener. Node
 * looks for expired requests every connectionsCheckingInterval, 30 s by
 * default: a half-sent request under a 1 s timeout was closed at 30 s
 * (measured, Node 20). Looking ten times per timeout closes it within 1.1×.
 */
export function requestDeadline(ms: number): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  return { headersTimeout: ms, requestTimeout: ms, connectionsCheckingInterval: Math.max(10, Math.floor(ms / 10)) }
}
