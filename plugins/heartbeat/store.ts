// Where the registry is shared. 'memory' (the default): nowhere, one
// process. A redis:// URL: through Redis (redis-store.ts), so several
// instances list the same nodes. Under `enet start --workers N` without Redis:
// through the cluster primary (cluster-store.ts). Either way the Registry is
// this instance's mirror and serves every node list; the store only carries
// beats between instances, so a list never waits on the network.
import type { NodeSource } from './registry.ts'
import { listen } from './listeners.ts'

/** Topic messages between the instances that share a registry (the locator forwards its queries and answers over it). */
export interface Bus {
  /** False when the message could not be sent (store down, no other instance). */
  publish(topic: string, data: unknown): boolean
  subscribe(topic: string, fn: (data: unknown) => void, opts?: { signal?: AbortSignal }): () => void
}

/** One instance's link to the shared registry. */
export interface SharedStore {
  readonly kind: 'redis' | 'cluster'
  /** A beat taken by this instance: written through (batched per event-loop turn); dropped, not buffered, while the store is down. */
  beat(node: string, from: NodeSource): void
  stats(): Record<string, number | boolean | string>
  close(): Promise<void>
}

/** A beat as it travels between instances: node, protocol, address, port, age in ms. */
export type WireBeat = [string, NodeSource['protocol'], string, number, number]

/**
 * The Bus that dependents hold. It lives in the plugin's state, so a
 * subscription made through it survives a reload of heartbeat (which replaces
 * the store behind it).
 */
export class BusHub implements Bus {
  private readonly topics = new Map<string, Set<(data: unknown) => void>>()
  /** Set by the store of the running version; null in a single process. */
  send: ((topic: string, data: unknown) => boolean) | null = null

  publish(topic: string, data: unknown): boolean {
    return this.send !== null && this.send(topic, data)
  }

  subscribe(topic: string, fn: (data: unknown) => void, opts: { signal?: AbortSignal } = {}): () => void {
    let set = this.topics.get(topic)
    if (set === undefined) this.topics.set(topic, (set = new Set()))
    return listen(set, fn, opts.signal)
  }

  /** A message from another instance. */
  deliver(topic: string, data: unknown, onError: (err: unknown) => void): void {
    for (const fn of this.topics.get(topic) ?? []) {
      try {
        fn(data)
      } catch (err) {
        onError(err)
      }
    }
  }
}

/** Collects the beats of one event-loop turn, so a burst costs one store write, not one per beat. */
export class BeatBatch {
  private batch: WireBeat[] = []
  private scheduled = false

  constructor(
    private readonly flush: (beats: WireBeat[]) => void,
    /** Beats per write at most (a Lua script's arguments, an IPC message). */
    private readonly max = 1_000,
  ) {}

  add(node: string, from: NodeSource, ageMs = 0): void {
    this.batch.push([node, from.protocol, from.address, from.port, ageMs])
    if (this.batch.length >= this.max) return this.now()
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.now())
    }
  }

  now(): void {
    this.scheduled = false
    if (this.batch.length === 0) return
    const beats = this.batch
    this.batch = []
    this.flush(beats)
  }
}

export function sourceOf(b: WireBeat): NodeSource {
  return { protocol: b[1], address: b[2], port: b[3], connId: -1 }
}

/** `store` option: 'memory' or a redis:// (rediss://) URL; anything else is one line naming the key. */
export function checkStore(store: unknown): 'memory' | URL {
  if (store === 'memory') return 'memory'
  if (typeof store === 'string') {
    let url: URL | null = null
    try {
      url = new URL(store)
    } catch {}
    if (url !== null && (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '') return url
  }
  throw new TypeError(`heartbeat: store must be 'memory' or a URL redis://host:port/db, got ${JSON.stringify(store)}`)
}
