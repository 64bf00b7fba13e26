// enet.config.ts: defaults, validation with one-line errors naming the key,
// overrides from the environment and flags, and the diff used by live reload.
import { z } from 'zod'
import { EnetError } from './errors.ts'
import type { FrameCodec, DatagramCodec } from './wire/codec.ts'
import { splitHostPort, type HostPort } from './wire/address.ts'

const KiB = 1024
const MiB = 1024 * KiB

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max)
const portNum = int(0, 65535)
const codecRef = <T>(names: [string, ...string[]]) =>
  z.union([z.enum(names), z.custom<T>((v) => typeof v === 'object' && v !== null && 'encode' in v, 'a codec object')])

const endpoint = <T>(codecs: [string, ...string[]], codec: string) =>
  z
    .object({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('0.0.0.0'),
      port: portNum.default(6430),
      codec: codecRef<T>(codecs).default(codec),
    })
    .strict()

/** A listener that is off unless its section is given: `ws: { port: 6431 }` turns it on. */
const optIn = <T extends z.ZodRawShape>(port: number, shape: T) =>
  z
    .object({
      enabled: z.boolean().default(true),
      host: z.string().min(1).default('0.0.0.0'),
      port: portNum.default(port),
      ...shape,
    })
    .strict()

const file = z.string().min(1)

const wsSchema = optIn(6431, {
  /** The HTTP path WebSocket upgrades must ask for; others get 404. */
  path: z.string().regex(/^\//, 'a path starting with /').default('/'),
}).default({ enabled: false })

const tlsSchema = optIn(6432, {
  /** PEM files; relative paths are relative to the config file. */
  cert: file.optional(),
  key: file.optional(),
  /** CA of client certificates: when set, clients must present one it signed (mutual TLS). */
  ca: file.optional(),
  /** Reload the certificate when its files change (new handshakes get it; open connections keep theirs). */
  watch: z.boolean().default(true),
})
  .superRefine((t, ctx) => {
    if (!t.enabled) return
    for (const k of ['cert', 'key'] as const) if (t[k] === undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'required when tls is on: the path of a PEM file' })
  })
  .default({ enabled: false })

const faultPolicy = z.object({
  policy: z.enum(['keep', 'restart', 'unload']).default('restart'),
  /** Faults borne within windowMs (restart, unload); the next one unloads the plugin. */
  max: int(0).default(5),
  windowMs: int(1).default(60_000),
  /** Wait before a restart; doubles with each fault in the window, up to windowMs. */
  backoffMs: int(0).default(1_000),
})

export const configSchema = z
  .object({
    name: z.string().min(1).default('enet'),
    tcp: endpoint<FrameCodec>(['tlv-be', 'ltv-le'], 'tlv-be').default({}),
    udp: endpoint<DatagramCodec>(['enet', 'tlv-be'], 'enet')
      .extend({
        maxPeers: int(1).default(10_000),
        /** Sessions one source (IPv4 address or IPv6 /64) may hold; beyond it, its own oldest idle one makes room. */
        maxPeersPerSource: int(1).default(1_000),
        /**
         * A session that sent one datagram and was sent nothing (a Go producer
         * beats from a fresh socket each time) ends after this much silence
         * instead of limits.idleTimeoutMs, and is evicted first.
         */
        oneShotIdleMs: int(1).default(2_000),
        /** Datagrams per second the server takes in, from everyone together; beyond: dropped, counted. */
        intakePerSec: int(1).default(200_000),
        /**
         * Per source IP and msgId: `{ "11": { perSec, burst } }`, over what a route
         * or plugin declares as its `rate`; `false` lifts a declared rate.
         */
        rateLimits: z
          .record(z.string().regex(/^\d+$/, 'a msgId'), z.union([z.object({ perSec: int(1), burst: int(1), tcp: z.boolean().optional() }).strict(), z.literal(false)]))
          .default({}),
        /**
         * Bytes sent to one UDP address: 3 × the bytes received from it, plus
         * this refill per second and burst (anti-amplification: a spoofed
         * source cannot turn the server into an amplifier).
         */
        replyBytesPerSec: int(0).default(4_096),
        replyBurstBytes: int(0).default(8_192),
        /**
         * Server-wide, for replies to unproven addresses that exceed 3 × the
         * datagram they answer: many spoofed victims share it (amplification).
         */
        unprovenReplyBytesPerSec: int(0).default(256 * KiB),
        unprovenReplyBurstBytes: int(0).default(256 * KiB),
        /**
         * Address validation: an unproven address gets no reply larger than 3 × its
         * request; it proves itself with a cookie round trip. 'auto': on while a
         * plugin asks for it (ctx.requireAddressValidation(): heartbeat does
         * when node authentication is configured).
         */
        strict: z.union([z.boolean(), z.literal('auto')]).default('auto'),
      })
      .strict()
      .default({}),
    /** WebSocket: one binary message = one frame of tcp.codec. Off unless given. */
    ws: wsSchema,
    /** TCP under TLS, beside plain TCP. Off unless given. */
    tls: tlsSchema,
    limits: z
      .object({
        maxConn: int(1).default(10_000),
        maxConnPerIp: int(1).default(100),
        maxPacketSize: int(1, MiB).default(4 * KiB),
        frameTimeoutMs: int(1).default(10_000),
        idleTimeoutMs: int(1).default(60_000),
        handlerTimeoutMs: int(1).default(5_000),
        maxInflightPerConn: int(1, 65_536).default(64),
        maxOutboundBytes: int(1).default(MiB),
        /** Data bytes queued behind a running request, per connection: past it TCP stops reading, UDP drops. */
        maxInboundBytes: int(1).default(MiB),
        /** The same across all connections; past it, a connection that holds queued bytes waits (TCP) or drops (UDP). */
        maxInboundTotalBytes: int(1).default(64 * MiB),
        /** Unsent bytes across all connections; beyond it the largest queues are closed first. */
        maxOutboundTotalBytes: int(1).default(64 * MiB),
        drainTimeoutMs: int(0).default(5_000),
      })
      .strict()
      .default({}),
    /**
     * The connection heartbeat checker (zinx HeartBeatChecker); absent or false: off.
     * Not the bundled heartbeat *plugin* (a node registry on msgIds 10/11).
     */
    heartbeat: z
      .union([
        // false: off, also over a config file that turns it on (enet start --heartbeat 0).
        z.literal(false),
        z
          .object({
            /** Silence after which a connection is pinged, and between pings. */
            intervalMs: int(10).default(5_000),
            /** Pings unanswered before the connection is closed (reason not-alive). */
            misses: int(1).default(2),
            /** zinx's ziface.HeartBeatDefaultMsgID. */
            pingMsgId: int(0, 0xffffffff).default(99999),
          })
          .strict(),
      ])
      .optional(),
    /** Reply to an unknown msgId with this msgId and the text `unknown msgId N`; null drops silently. */
    unknownMsgReplyId: int(0, 0xffffffff).nullable().default(null),
    /** Reply to a failed or timed-out request with this msgId and the error text; null sends nothing. */
    errorReplyId: int(0, 0xffffffff).nullable().default(null),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        pretty: z.union([z.boolean(), z.literal('auto')]).default('auto'),
      })
      .strict()
      .default({}),
    /**
     * The HTTP admin listener (metrics, status, dashboard): off unless set.
     * Bound to a non-loopback address it needs a token (Authorization: Bearer).
     */
    http: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: portNum.default(9430),
        token: z.string().min(16, 'a token of at least 16 characters').optional(),
      })
      .strict()
      .superRefine((h, ctx) => {
        if (h.token === undefined && !isLoopbackHost(h.host)) {
          ctx.addIssue({ code: 'custom', path: ['token'], message: `required when http.host "${h.host}" is not a loopback address (set ENET_HTTP_TOKEN, or bind 127.0.0.1)` })
        }
      })
      .optional(),
    /** A local socket for `enet plugins` / `enet reload`; false turns it off. Relative to the config file. */
    admin: z
      .object({ socket: z.union([z.string().min(1), z.literal(false)]).default('.enet/admin.sock') })
      .strict()
      .default({}),
    plugins: z
      .object({
        dirs: z.array(z.string().min(1)).default(['plugins']),
        /** Plugins shipped with enet to load beside those in `dirs`, by name: 'heartbeat', 'locator', 'logging'. */
        bundled: z.array(z.string().min(1)).default([]),
        watch: z.boolean().default(true),
        /** A plugin that fails to load at start stops the server (production). */
        strict: z.boolean().default(false),
        disabled: z.array(z.string()).default([]),
        options: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
        setupTimeoutMs: int(1).default(5_000),
        drainTimeoutMs: int(0).default(5_000),
        debounceMs: int(0).default(50),
        /** What a fault in plugin code (a throwing timer, listener, stray promise) does to that plugin (runtime/plugin/supervisor.ts). */
        faults: faultPolicy
          .extend({ byPlugin: z.record(z.string(), faultPolicy.partial().strict()).default({}) })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
  })
  .strict()

export type EnetConfig = z.output<typeof configSchema>
export type EnetConfigInput = z.input<typeof configSchema>
export type ConfigFn = (env: NodeJS.ProcessEnv) => EnetConfigInput | Promise<EnetConfigInput>
export type ConfigExport = EnetConfigInput | ConfigFn

/**
 * Identity helper so an `enet.config.ts` gets types and completion. Not
 * generic on purpose: an object literal checked against the config type
 * itself gets excess-property checks, so a misspelt key is flagged in the
 * editor (a type parameter would take any extra key in).
 */
export function defineConfig(config: EnetConfigInput): EnetConfigInput
export function defineConfig(config: ConfigFn): ConfigFn
export function defineConfig(config: ConfigExport): ConfigExport {
  return config
}

/** Validate and fill defaults; throws ENET_ERR_CONFIG with one line naming the key. */
export function resolveConfig(input: unknown, source = 'config'): EnetConfig {
  const result = configSchema.safeParse(input ?? {})
  if (result.success) return result.data
  const issue = deepest(result.error.issues[0]!)
  const key = issue.path.length ? issue.path.join('.') : '(root)'
  let what = issue.message
  if (issue.code === 'unrecognized_keys') what = `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`
  else if (issue.code === 'invalid_type') what = `expected ${issue.expected}, got ${issue.received}`
  throw new EnetError('ENET_ERR_CONFIG', [`${source}: ${key}: ${what}`])
}

/** A union that failed says "Invalid input": the branch that got furthest into the value says more. */
function deepest(issue: z.ZodIssue): z.ZodIssue {
  if (issue.code !== 'invalid_union') return issue
  const inner = issue.unionErrors.flatMap((e) => e.issues).map(deepest)
  const best = inner.reduce<z.ZodIssue | undefined>((a, b) => (a === undefined || b.path.length > a.path.length ? b : a), undefined)
  // Every branch failed at the value itself: name what it could have been.
  if (best === undefined || best.path.length <= issue.path.length) {
    const expected = inner.map((i) => (i.code === 'invalid_literal' ? JSON.stringify(i.expected) : i.code === 'invalid_type' ? i.expected : i.code === 'invalid_enum_value' ? i.options.map((o) => JSON.stringify(o)).join(' or ') : null)).filter((x) => x !== null)
    return { ...issue, message: expected.length ? `expected ${[...new Set(expected)].join(' or ')}` : issue.message }
  }
  return best
}

/** A deep partial patch merged over the file's config (env vars, then flags). */
export type ConfigPatch = { [k: string]: unknown }

export function mergeConfig(base: unknown, patch: ConfigPatch): Record<string, unknown> {
  const out: Record<string, unknown> = { ...((base as Record<string, unknown>) ?? {}) }
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue
    const b = out[k]
    out[k] = isPlain(v) && isPlain(b) ? mergeConfig(b, v as ConfigPatch) : v
  }
  return out
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype
}

export { formatHostPort } from './wire/address.ts'

/** A listening address from a flag or the environment: `HOST:PORT`, or a bare `PORT` on every interface. */
export function parseHostPort(value: string, what: string, defaultHost = '0.0.0.0'): HostPort {
  const at = splitHostPort(/^\d+$/.test(value) ? `:${value}` : value)
  if (at === null) throw new EnetError('ENET_ERR_CONFIG', [`${what}: expected HOST:PORT (port 0-65535), got "${value}"`])
  return { host: at.host || defaultHost, port: at.port }
}

/** 127.0.0.0/8, ::1 and localhost: only this host can reach a listener bound there. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/**
 * ENET_HTTP_TOKEN fills in http.token once the file, ENET_HTTP or --http has
 * turned the listener on (the token alone does not). There is no flag for it:
 * every local user can read a command line (ps).
 */
export function withHttpToken(merged: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const http = merged.http
  if (!env.ENET_HTTP_TOKEN || !isPlain(http) || http.token !== undefined) return merged
  return { ...merged, http: { ...http, token: env.ENET_HTTP_TOKEN } }
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/** ENET_TCP, ENET_UDP, ENET_WS, ENET_TLS, ENET_HTTP, ENET_HTTP_TOKEN, ENET_PLUGINS, ENET_LOG_LEVEL, ENET_MAX_CONN, ENET_MAX_PACKET_SIZE. */
export function envPatch(env: NodeJS.ProcessEnv): ConfigPatch {
  const patch: ConfigPatch = {}
  if (env.ENET_TCP) patch.tcp = parseHostPort(env.ENET_TCP, 'ENET_TCP')
  if (env.ENET_UDP) patch.udp = parseHostPort(env.ENET_UDP, 'ENET_UDP')
  if (env.ENET_WS) patch.ws = parseHostPort(env.ENET_WS, 'ENET_WS')
  if (env.ENET_TLS) patch.tls = parseHostPort(env.ENET_TLS, 'ENET_TLS')
  if (env.ENET_HTTP) patch.http = parseHostPort(env.ENET_HTTP, 'ENET_HTTP', '127.0.0.1')
  if (env.ENET_PLUGINS) patch.plugins = { dirs: env.ENET_PLUGINS.split(',') }
  if (env.ENET_LOG_LEVEL) {
    if (!LEVELS.has(env.ENET_LOG_LEVEL)) throw new EnetError('ENET_ERR_CONFIG', [`ENET_LOG_LEVEL: expected one of ${[...LEVELS].join(', ')}, got "${env.ENET_LOG_LEVEL}"`])
    patch.log = { level: env.ENET_LOG_LEVEL }
  }
  const limits: ConfigPatch = {}
  for (const [name, key] of [['ENET_MAX_CONN', 'maxConn'], ['ENET_MAX_PACKET_SIZE', 'maxPacketSize']] as const) {
    const raw = env[name]
    if (raw === undefined) continue
    const n = Number(raw)
    if (!Number.isInteger(n)) throw new EnetError('ENET_ERR_CONFIG', [`${name}: expected an integer, got "${raw}"`])
    limits[key] = n
  }
  if (Object.keys(limits).length) patch.limits = limits
  return patch
}

/**
 * The one list of keys whose change needs a restart (read once at start: the
 * sockets and where they listen, the logger's transport, the file watchers);
 * everything else applies live. A live reload keeps their running values.
 */
export const RESTART_KEYS = [
  'name',
  'admin.socket',
  'http',
  'tcp.enabled',
  'tcp.host',
  'tcp.port',
  'tcp.codec',
  'udp.enabled',
  'udp.host',
  'udp.port',
  'udp.codec',
  'udp.maxPeers',
  'ws.enabled',
  'ws.host',
  'ws.port',
  'tls.enabled',
  'tls.host',
  'tls.port',
  'tls.watch',
  'log.pretty',
  'plugins.watch',
  'plugins.debounceMs',
] as const

const needsRestart = (key: string) => RESTART_KEYS.some((r) => key === r || key.startsWith(r + '.'))

/** Dotted keys that differ between two resolved configs, and those of them that need a restart. */
export function diffConfig(a: EnetConfig, b: EnetConfig): { changed: string[]; restartNeeded: string[] } {
  const changed: string[] = []
  walk(a, b, '', changed)
  return { changed, restartNeeded: changed.filter(needsRestart) }
}

/** `next`, with the running value of every key that needs a restart (RESTART_KEYS). */
export function liveConfig(running: EnetConfig, next: EnetConfig): EnetConfig {
  type Node = Record<string, unknown>
  // Copies only the objects on each key's path: codecs and other values stay shared.
  const out: Node = { ...next }
  for (const key of RESTART_KEYS) {
    const path = key.split('.')
    let from = running as unknown as Node
    let to = out
    for (const part of path.slice(0, -1)) {
      from = from[part] as Node
      to = to[part] = { ...(to[part] as Node) }
    }
    to[path.at(-1)!] = from[path.at(-1)!]
  }
  return out as unknown as EnetConfig
}

function walk(a: unknown, b: unknown, prefix: string, out: string[]): void {
  if (isPlain(a) && isPlain(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk(a[k], b[k], prefix ? `${prefix}.${k}` : k, out)
    return
  }
  if (JSON.stringify(a) !== JSON.stringify(b) || (typeof a === 'object' && a !== b && !Array.isArray(a))) out.push(prefix)
}
