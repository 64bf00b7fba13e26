// logging: connection start/stop at info, each request at debug (msgId,
// bytes, duration, outcome), all through ctx.log, a child of the server's pino logger, so the level set in
// the config (live) and the output format (pretty at a terminal, JSON
// otherwise) are the server's. Lines a peer causes are rate-limited per
// source IP.
//
// Failed requests, plugin and config reloads are not logged here: the core
// already writes one line for each (the failure with its stack, "plugin
// reloaded", "config reloaded") with everything the event carries; a second
// line would only double the volume.
import { definePlugin, type CloseReason, type Connection } from '@enetjs/enet'
import { SourceBuckets } from './buckets.ts'

const defaults = {
  /** Per source IP: lines in a burst, and lines per second after it. */
  burst: 20,
  perSecond: 10,
  /** Source IPs tracked at once; the oldest is forgotten beyond this. */
  maxSources: 1_024,
  /** All sources together. */
  globalBurst: 200,
  globalPerSecond: 100,
  /** Tap afterHandle for per-request lines (a cost on every request even when debug is off). */
  requests: true,
}

/** Closes a peer caused by misbehaving: worth a warning, not just info. */
const PEER_FAULT = new Set<CloseReason>(['frame-too-large', 'frame-timeout', 'bad-frame', 'slow-consumer'])

export default definePlugin({
  name: 'logging',
  options: defaults,
  setup(ctx) {
    const log = ctx.log
    const buckets = new SourceBuckets(ctx.options)
    const started = new WeakMap<Connection, number>()
    const remote = (c: Connection) => `${c.remote.address}:${c.remote.port}`

    ctx
      .setInterval(() => {
        const n = buckets.takeSuppressed()
        if (n > 0) log.warn({ suppressed: n, sources: buckets.size }, 'log lines suppressed by the per-source rate limit')
      }, 1_000)
      .unref()

    ctx.hooks.onConnStart.tap('connections', (conn) => {
      started.set(conn, performance.now())
      if (log.isLevelEnabled('info') && buckets.take(conn.remote.address)) {
        log.info({ conn: conn.id, protocol: conn.protocol, remote: remote(conn) }, 'connection started')
      }
    })

    ctx.hooks.onConnStop.tap('connections', (conn, reason) => {
      const level = PEER_FAULT.has(reason) ? 'warn' : 'info'
      if (!log.isLevelEnabled(level) || !buckets.take(conn.remote.address)) return
      const t0 = started.get(conn)
      const ms = t0 === undefined ? undefined : Math.round(performance.now() - t0)
      log[level]({ conn: conn.id, protocol: conn.protocol, remote: remote(conn), reason, ms }, 'connection stopped')
    })

    if (!ctx.options.requests) return
    ctx.hooks.afterHandle.tap('requests', (req, outcome) => {
      // A failed or timed-out request is logged once, with its stack, by the core (dispatch.ts).
      if (outcome.status !== 'ok') return
      // The cheap test first: at info, a successful request costs one level check.
      if (!log.isLevelEnabled('debug') || !buckets.take(req.remote.address)) return
      log.debug({
        msgId: req.msgId,
        bytes: req.data.length,
        ms: Math.round(outcome.ms * 100) / 100,
        outcome: outcome.status,
        conn: req.conn.id,
        protocol: req.conn.protocol,
        remote: `${req.remote.address}:${req.remote.port}`,
      }, 'request')
    })
  },
})
