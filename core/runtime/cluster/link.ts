// Messages between the cluster primary and one worker, over the IPC channel
// node:cluster opens (advanced serialization: Buffers and Maps pass as they
// are). Both sides use the same IpcLink: requests with an id and one answer,
// and topic messages (`pub`) that the primary relays to every other worker.
// Anything that is not an enet envelope is left to other listeners.
import { EnetError, describe } from '../../errors.ts'

export type Envelope =
  | { enet: 'req'; id: number; type: string; data: unknown }
  | { enet: 'res'; id: number; ok: true; data: unknown }
  | { enet: 'res'; id: number; ok: false; error: string }
  | { enet: 'pub'; topic: string; data: unknown; from: number }

export type RequestHandler = (data: unknown) => unknown

/** How long a request waits for its answer unless told otherwise. */
export const REQUEST_TIMEOUT_MS = 5_000

interface Pending {
  resolve(data: unknown): void
  reject(err: Error): void
  timer: NodeJS.Timeout
}

export class IpcLink {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private readonly handlers = new Map<string, RequestHandler>()
  /** Topic messages that arrive over this link. */
  onPub: ((topic: string, data: unknown, from: number) => void) | null = null

  constructor(
    /** Sends one envelope; false when the channel is gone. */
    private readonly send: (msg: Envelope) => boolean,
    /** Names the other side in errors ("worker 1", "primary"). */
    readonly peer: string,
  ) {}

  /** Feed every IPC message here; returns false for one that is not enet's. */
  receive(msg: unknown): boolean {
    if (typeof msg !== 'object' || msg === null || !('enet' in msg)) return false
    const m = msg as Envelope
    if (m.enet === 'pub') this.onPub?.(m.topic, m.data, m.from)
    else if (m.enet === 'res') this.settle(m)
    else if (m.enet === 'req') void this.answer(m)
    return true
  }

  /** Answer requests of `type` with what `fn` returns (or throws). */
  handle(type: string, fn: RequestHandler): void {
    this.handlers.set(type, fn)
  }

  request<T = unknown>(type: string, data?: unknown, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new EnetError('ENET_ERR_CLUSTER', [this.peer, `no answer to "${type}" within ${timeoutMs} ms`]))
      }, timeoutMs)
      timer.unref()
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject, timer })
      if (!this.trySend({ enet: 'req', id, type, data })) {
        clearTimeout(timer)
        this.pending.delete(id)
        reject(new EnetError('ENET_ERR_CLUSTER', [this.peer, `cannot send "${type}": the channel is closed`]))
      }
    })
  }

  publish(topic: string, data: unknown, from: number): boolean {
    return this.trySend({ enet: 'pub', topic, data, from })
  }

  /** The other side is gone: what waits for it fails now, not at its timeout. */
  close(why: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new EnetError('ENET_ERR_CLUSTER', [this.peer, why]))
      this.pending.delete(id)
    }
  }

  private trySend(msg: Envelope): boolean {
    try {
      return this.send(msg)
    } catch {
      // ERR_IPC_CHANNEL_CLOSED: the other side exited.
      return false
    }
  }

  private settle(m: Extract<Envelope, { enet: 'res' }>): void {
    const p = this.pending.get(m.id)
    if (p === undefined) return
    this.pending.delete(m.id)
    clearTimeout(p.timer)
    if (m.ok) p.resolve(m.data)
    else p.reject(new EnetError('ENET_ERR_CLUSTER', [this.peer, m.error]))
  }

  private async answer(m: Extract<Envelope, { enet: 'req' }>): Promise<void> {
    const fn = this.handlers.get(m.type)
    if (fn === undefined) {
      this.trySend({ enet: 'res', id: m.id, ok: false, error: `no handler for "${m.type}"` })
      return
    }
    try {
      this.trySend({ enet: 'res', id: m.id, ok: true, data: await fn(m.data) })
    } catch (err) {
      this.trySend({ enet: 'res', id: m.id, ok: false, error: describe(err) })
    }
  }
}
