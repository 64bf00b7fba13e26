// One-shot UDP sessions: a source that has sent a single datagram and been
// sent nothing back. A Go enet producer beats from a fresh socket every
// second and closes it, so each beat is such a session; kept for the full
// idle timeout (60 s), 1,000 producers would hold 60,000 sessions. They end
// after `udp.oneShotIdleMs` instead, and are the first to go when
// `udp.maxPeers` is full. A second datagram, or a reply on the session, makes
// it an ordinary session with the ordinary idle timeout; a datagram the server
// sends to the address unasked (a locate query to where a node beat from)
// does not, as that port may be closed already.
import type { CloseReason } from '../types.ts'

export interface OneShotPeer {
  readonly key: string
  /** Still one-shot: one datagram in, nothing out. */
  oneShot: boolean
  /** performance.now() of its datagram. */
  touchedAt: number
  readonly load: number
  close(reason: CloseReason): void
}

export class OneShotSessions<P extends OneShotPeer> {
  /** In order of arrival: the front is the oldest, the next to expire. */
  readonly map = new Map<string, P>()
  private timer: NodeJS.Timeout | null = null
  private ms = 0

  add(peer: P): void {
    peer.oneShot = true
    this.map.set(peer.key, peer)
  }

  /** The source spoke again, was answered, or has a request running: an ordinary session now. */
  keep(peer: P): void {
    peer.oneShot = false
    this.map.delete(peer.key)
  }

  delete(peer: P): void {
    if (this.map.get(peer.key) === peer) this.map.delete(peer.key)
  }

  get size(): number {
    return this.map.size
  }

  /** (Re)start the expiry timer; a quarter of the timeout is precise enough and cheap (it walks only what is due). */
  start(ms: number): void {
    this.stop()
    this.ms = ms
    this.timer = setInterval(() => this.expire(performance.now()), Math.max(10, Math.floor(ms / 4)))
    this.timer.unref()
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  /** Close the sessions older than the timeout; returns how many. */
  expire(now: number): number {
    let closed = 0
    for (const peer of this.map.values()) {
      if (now - peer.touchedAt < this.ms) break
      if (peer.load > 0) {
        // Its request will likely be answered: it is judged by the ordinary idle timeout.
        this.keep(peer)
        continue
      }
      // close() releases the session, which takes it out of this map.
      peer.close('one-shot-timeout')
      closed++
    }
    return closed
  }
}
