// The registry shared by the workers of `enet start --workers N` without
// Redis: beats travel through the primary's relay (ctx.server.cluster) to
// every other worker's mirror, and each mirror expires nodes by its own
// precise timer. A worker that starts (or reloads heartbeat) says hello; the
// others answer by re-publishing the nodes whose beats reach them, with their
// age, so the newcomer's list is whole at once.
import type { ClusterBus } from '@enetjs/enet'
import type { Logger } from 'pino'
import type { Registry } from './registry.ts'
import { BeatBatch, sourceOf, type BusHub, type SharedStore, type WireBeat } from './store.ts'

const BEATS = 'heartbeat:beats'
const HELLO = 'heartbeat:hello'
const BUS = 'heartbeat:bus'

export class ClusterStore implements SharedStore {
  readonly kind = 'cluster' as const
  private readonly batch: BeatBatch
  private readonly offs: Array<() => void> = []
  private readonly counts = { published: 0, mirrored: 0 }

  constructor(
    private readonly cluster: ClusterBus,
    private readonly registry: Registry,
    private readonly hub: BusHub,
    log: Logger,
  ) {
    this.batch = new BeatBatch((beats) => {
      if (this.cluster.publish(BEATS, beats)) this.counts.published += beats.length
    })
    this.offs.push(
      cluster.subscribe(BEATS, (data, from) => this.mirror(data as WireBeat[], from)),
      cluster.subscribe(HELLO, () => this.republish()),
      cluster.subscribe(BUS, (data) => {
        const { topic, payload } = data as { topic: string; payload: unknown }
        hub.deliver(topic, payload, (err) => log.error({ err, topic }, 'heartbeat bus subscriber threw'))
      }),
    )
    hub.send = (topic, payload) => this.cluster.workers > 1 && this.cluster.publish(BUS, { topic, payload })
    cluster.publish(HELLO, null)
  }

  beat(node: string, from: Parameters<SharedStore['beat']>[1]): void {
    this.batch.add(node, from)
  }

  stats() {
    return { store: 'cluster', worker: this.cluster.worker, ...this.counts }
  }

  async close(): Promise<void> {
    this.batch.now()
    for (const off of this.offs) off()
    this.hub.send = null
  }

  private mirror(beats: WireBeat[], from: number): void {
    const ttl = this.registry.ttlMs
    for (const b of beats) this.registry.mirror(b[0], sourceOf(b), `worker ${from}`, ttl - b[4])
    this.counts.mirrored += beats.length
    this.registry.settle()
  }

  private republish(): void {
    for (const n of this.registry.owned()) this.batch.add(n.node, n.from, n.ageMs)
  }
}
