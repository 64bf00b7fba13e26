// The registry shared through Redis (store: 'redis://host:port/db').
//
// In Redis: a sorted set node → deadline and a hash node → source, written
// by one Lua script per batch of beats, which also publishes the batch on the
// channel; an atomic reaper script (ZRANGEBYSCORE + ZREM) that every instance
// runs on a timer armed for the next deadline, publishing what it removed.
// Why not keys with a TTL and keyspace notifications: Redis expires keys
// lazily and by sampling, so an `expired` event can come long after the TTL
// (and none comes for a key nobody touches while memory is plentiful), and
// notifications are fire-and-forget with no way to read back what expired.
// A sorted set gives exact deadlines on Redis's clock, one range read for a
// (re)connecting instance, and a reaper that several instances can run at
// once without double reports.
//
// Each instance keeps its mirror (the Registry) and serves lists from it.
// Redis down: the mirror keeps serving and expiring what this instance hears;
// beats are dropped, not queued (enableOfflineQueue off, no retries of
// commands in flight); the outage is logged once; ioredis reconnects with
// capped, jittered backoff. Back up: this instance re-publishes the nodes
// that beat to it (with their age) and reads every live node back, so a
// Redis restarted empty is whole again at once, not after the next beats.
import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import type { Registry } from './registry.ts'
import { BEAT, REAP, SNAPSHOT } from './redis-scripts.ts'
import { BeatBatch, sourceOf, type BusHub, type SharedStore, type WireBeat } from './store.ts'

/** Reconnect backoff: 50 ms doubling, at most this (a reconnect attempt to loopback or a LAN is cheap; a restarted Redis is found within it), ±25 % jitter. */
const RETRY_MAX_MS = 500
/** A reaped node is dropped from a mirror whose own deadline for it is within this (delivery and timer skew). */
const EXPIRED_SLACK_MS = 50
/** Nodes one reaper run removes at most (Lua's unpack has a stack limit); more are reaped at once after. */
const REAP_LIMIT = 1_000

interface Scripts {
  enetBeat(...args: Array<string | number>): Promise<number>
  enetReap(...args: Array<string | number>): Promise<[number, number]>
  enetSnapshot(...args: string[]): Promise<Array<string | number>>
}

type Message = { t: 'beats'; src: string; at: number; b: WireBeat[] } | { t: 'expired'; src: string; nodes: string[] } | { t: 'bus'; src: string; topic: string; data: unknown }

export class RedisStore implements SharedStore {
  readonly kind = 'redis' as const
  private readonly cmd: Redis & Scripts
  private readonly sub: Redis
  private readonly keys: { exp: string; info: string; channel: string }
  private readonly batch: BeatBatch
  private state: 'connecting' | 'up' | 'down' = 'connecting'
  private downSince = 0
  private reaper: NodeJS.Timeout | null = null
  private reaperAt = Infinity
  private closed = false
  /** Redis's clock minus this one (ms), measured on connect: a mirrored beat's age counts from when Redis took it. */
  private offset = 0
  private readonly counts = { written: 0, dropped: 0, mirrored: 0, reaped: 0, outages: 0, errors: 0 }

  constructor(
    url: URL,
    prefix: string,
    /** This instance, as other instances see it in messages. */
    private readonly id: string,
    private readonly registry: Registry,
    private readonly hub: BusHub,
    private readonly log: Logger,
  ) {
    this.keys = { exp: `${prefix}:deadlines`, info: `${prefix}:sources`, channel: `${prefix}:events` }
    const opts: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.round(Math.min(RETRY_MAX_MS, 50 * 2 ** times) * (0.75 + Math.random() / 2)),
      connectionName: `enet-heartbeat-${id}`,
    }
    this.cmd = new Redis(url.href, opts) as Redis & Scripts
    this.cmd.defineCommand('enetBeat', { numberOfKeys: 3, lua: BEAT })
    this.cmd.defineCommand('enetReap', { numberOfKeys: 3, lua: REAP })
    this.cmd.defineCommand('enetSnapshot', { numberOfKeys: 2, lua: SNAPSHOT })
    this.cmd.on('ready', () => void this.up())
    this.cmd.on('error', (err) => this.down(err))
    this.cmd.on('close', () => this.down(null))
    // The subscriber re-subscribes by itself after a reconnect; its errors are the same outage.
    this.sub = new Redis(url.href, { ...opts, enableOfflineQueue: true, connectionName: `enet-heartbeat-sub-${id}` })
    this.sub.on('error', () => {})
    this.sub.on('message', (_channel: string, raw: string) => this.receive(raw))
    this.sub.subscribe(this.keys.channel).catch(() => {})
    this.batch = new BeatBatch((beats) => this.write(beats))
    hub.send = (topic, data) => {
      if (this.cmd.status !== 'ready') return false
      this.cmd.publish(this.keys.channel, JSON.stringify({ t: 'bus', src: this.id, topic, data })).catch(() => this.counts.errors++)
      return true
    }
  }

  beat(node: string, from: Parameters<SharedStore['beat']>[1]): void {
    this.batch.add(node, from)
  }

  stats() {
    return { store: 'redis', up: this.state === 'up', ...this.counts }
  }

  async close(): Promise<void> {
    this.batch.now()
    this.closed = true
    if (this.reaper !== null) clearTimeout(this.reaper)
    if (this.hub.send !== null) this.hub.send = null
    this.sub.disconnect()
    if (this.cmd.status === 'ready') {
      const quit = this.cmd.quit().catch(() => {})
      const timer = new Promise((resolve) => setTimeout(resolve, 1_000).unref())
      await Promise.race([quit, timer])
    }
    this.cmd.disconnect()
  }

  private async up(): Promise<void> {
    if (this.state === 'down') this.log.info({ downMs: Date.now() - this.downSince }, 'registry store reconnected: re-publishing the nodes that beat here, reading the others back')
    this.state = 'up'
    try {
      const t0 = Date.now()
      const [sec, usec] = await this.cmd.time()
      this.offset = Number(sec) * 1000 + Number(usec) / 1000 - (t0 + Date.now()) / 2
    } catch {
      this.counts.errors++
    }
    for (const n of this.registry.owned()) this.batch.add(n.node, n.from, n.ageMs)
    this.batch.now()
    try {
      const flat = await this.cmd.enetSnapshot(this.keys.exp, this.keys.info)
      for (let i = 0; i + 2 < flat.length; i += 3) {
        const info = parseSource(String(flat[i + 2]))
        if (info === null || info.s === this.id) continue
        this.registry.mirror(String(flat[i]), { protocol: info.p, address: info.a, port: info.o, connId: -1 }, info.s, Number(flat[i + 1]))
      }
      this.registry.settle()
    } catch {
      this.counts.errors++
    }
    this.schedule(0)
  }

  private down(err: Error | null): void {
    if (this.closed || this.state === 'down') return
    const wasUp = this.state === 'up'
    this.state = 'down'
    this.downSince = Date.now()
    this.counts.outages++
    if (this.reaper !== null) clearTimeout(this.reaper)
    this.reaper = null
    this.reaperAt = Infinity
    // Once per outage; ioredis reports every failed attempt, and those are expected now.
    this.log.warn({ err: err ?? undefined, wasUp }, 'registry store unreachable: serving the local view, reconnecting with backoff')
  }

  private write(beats: WireBeat[]): void {
    if (this.closed || this.cmd.status !== 'ready') {
      this.counts.dropped += beats.length
      return
    }
    const ttl = this.registry.ttlMs
    const args: Array<string | number> = [ttl, JSON.stringify({ t: 'beats', src: this.id, b: beats })]
    for (const b of beats) args.push(b[0], b[4], JSON.stringify({ p: b[1], a: b[2], o: b[3], s: this.id }))
    this.cmd.enetBeat(this.keys.exp, this.keys.info, this.keys.channel, ...args).then(
      () => {
        this.counts.written += beats.length
        this.schedule(ttl + 1)
      },
      () => {
        this.counts.dropped += beats.length
        this.counts.errors++
      },
    )
  }

  /** Arm the reaper for `ms` from now, unless it is armed sooner. */
  private schedule(ms: number): void {
    if (this.closed) return
    const at = performance.now() + ms
    if (this.reaper !== null && this.reaperAt <= at) return
    if (this.reaper !== null) clearTimeout(this.reaper)
    this.reaperAt = at
    this.reaper = setTimeout(() => this.reap(), ms)
    this.reaper.unref()
  }

  private reap(): void {
    this.reaper = null
    this.reaperAt = Infinity
    // Down: up() arms it again on reconnect.
    if (this.closed || this.cmd.status !== 'ready') return
    this.cmd.enetReap(this.keys.exp, this.keys.info, this.keys.channel, this.id, REAP_LIMIT).then(
      ([removed, wait]) => {
        this.counts.reaped += removed
        // A deadline is due at its millisecond: look one after it.
        this.schedule(removed >= REAP_LIMIT ? 0 : wait < 0 ? this.registry.ttlMs : wait + 1)
      },
      () => {
        this.counts.errors++
        this.schedule(this.registry.ttlMs)
      },
    )
  }

  private receive(raw: string): void {
    let m: Message
    try {
      m = JSON.parse(raw) as Message
    } catch {
      this.counts.errors++
      return
    }
    if (m.t === 'expired') {
      for (const node of m.nodes) this.registry.dropIfDue(node, EXPIRED_SLACK_MS)
      return
    }
    if (m.src === this.id) return
    if (m.t === 'beats' && Array.isArray(m.b)) {
      const ttl = this.registry.ttlMs
      // Delivery and this process's scheduling delay: the deadline counts from the write, as at every other instance.
      const delay = Number.isFinite(m.at) ? Math.max(0, Date.now() + this.offset - m.at) : 0
      for (const b of m.b) this.registry.mirror(b[0], sourceOf(b), m.src, ttl - b[4] - delay)
      this.counts.mirrored += m.b.length
      this.registry.settle()
    } else if (m.t === 'bus') {
      this.hub.deliver(m.topic, m.data, (err) => this.log.error({ err, topic: m.t === 'bus' ? m.topic : '' }, 'heartbeat bus subscriber threw'))
    }
  }
}

function parseSource(json: string): { p: WireBeat[1]; a: string; o: number; s: string } | null {
  try {
    const v = JSON.parse(json) as { p: WireBeat[1]; a: string; o: number; s: string }
    return typeof v.s === 'string' && typeof v.a === 'string' ? v : null
  } catch {
    return null
  }
}
