// Every error enet raises has a code from this table (fastify lib/errors.js).

export const codes = {
  ENET_ERR_CONFIG: 'invalid config: %s',
  ENET_ERR_CONFIG_LOAD: 'cannot load config %s: %s',
  ENET_ERR_LISTEN: 'cannot listen: %s.host/port %s: %s',
  ENET_ERR_ROUTE_DUPLICATE: 'msgId %s is already routed by %s; %s cannot take it',
  ENET_ERR_ROUTE_INVALID: 'route for msgId %s from %s: %s',
  ENET_ERR_ROUTE_GROUP: 'route group %s: %s',
  ENET_ERR_MIDDLEWARE_INVALID: '%s: middleware %s must be a function (req, next), got %s',
  ENET_ERR_ROUTE_NEXT: 'route for msgId %s (%s): next() called more than once',
  ENET_ERR_MSGID_INVALID: 'msgId must be an integer from 0 to 4294967295, got %s',
  ENET_ERR_FRAME_TOO_LARGE: 'frame declares %s data bytes, more than maxPacketSize %s',
  ENET_ERR_BAD_FRAME: 'bad frame: %s',
  ENET_ERR_WS_TOO_LARGE: 'WebSocket message longer than one frame of maxPacketSize %s',
  ENET_ERR_TLS: 'tls: %s',
  ENET_ERR_HANDLER: 'handler for msgId %s (%s) failed: %s',
  ENET_ERR_HANDLER_TIMEOUT: 'handler for msgId %s (%s) did not finish within %s ms',
  ENET_ERR_NOT_CONNECTED: 'not connected to %s',
  ENET_ERR_REQUEST_TIMEOUT: 'no reply with msgId %s within %s ms',
  ENET_ERR_CLIENT_CLOSED: 'client closed',
  ENET_ERR_BAD_URL: 'cannot parse address %s: expected tcp://, tls://, udp://host:port or ws://, wss://host:port/path',
  ENET_ERR_CLI: '%s',
  ENET_ERR_PLUGIN_LOAD: 'plugin %s (%s) failed to load: %s',
  ENET_ERR_PLUGIN_INVALID: 'plugin %s (%s) is invalid: %s',
  ENET_ERR_PLUGIN_SETUP: 'plugin %s (%s) setup failed: %s',
  ENET_ERR_PLUGIN_SETUP_TIMEOUT: 'plugin %s (%s) %s did not finish within %s ms',
  ENET_ERR_PLUGIN_CLASH: 'plugin %s: %s',
  ENET_ERR_PLUGIN_DEPENDENCY: 'plugin %s needs plugin %s, which is not loaded',
  ENET_ERR_PLUGIN_UNKNOWN: 'no plugin named %s',
  ENET_ERR_PLUGIN_OPTIONS: 'plugin %s: invalid config: %s',
  ENET_ERR_PLUGIN_METRIC: 'plugin %s: metric %s: %s',
  ENET_ERR_HOOK: 'hook %s tap %s threw: %s',
  ENET_ERR_SERVER_CLOSED: 'server is closed',
  ENET_ERR_ADMIN_SOCKET: 'admin.socket %s: %s',
  ENET_ERR_CLUSTER: 'cluster: %s: %s',
} as const

export type ErrorCode = keyof typeof codes

export class EnetError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, args: unknown[] = [], options?: { cause?: unknown }) {
    let i = 0
    super(codes[code].replace(/%s/g, () => String(args[i++])), options)
    this.name = 'EnetError'
    this.code = code
  }
}

export function enetError(code: ErrorCode, ...args: unknown[]): EnetError {
  return new EnetError(code, args)
}

/** Wrap what user code threw, keeping it as `cause`. */
export function wrapError(code: ErrorCode, cause: unknown, ...args: unknown[]): EnetError {
  return new EnetError(code, [...args, describe(cause)], { cause })
}

export function describe(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
