// The connection manager (zinx znet/connmanager.go): every live connection by
// id, a count per source (an IPv4 address or an IPv6 /64, source.ts) for the per-IP limit.
import type { BaseConnection } from './connection.ts'
import { sourceOf } from './source.ts'
import type { CloseReason, ConnectionRegistry } from '../types.ts'

export class ConnectionManager implements ConnectionRegistry {
  private readonly byId = new Map<number, BaseConnection>()
  private readonly perIp = new Map<string, number>()
  /** UDP peers have their own bound (udp.maxPeers); maxConn and the per-IP count cover TCP, TLS and WebSocket. */
  streamCount = 0

  get size(): number {
    return this.byId.size
  }

  /** TCP connections from the source of `ip` (every address of an IPv6 /64 together). */
  countFor(ip: string): number {
    return this.perIp.get(sourceOf(ip)) ?? 0
  }

  add(conn: BaseConnection): void {
    this.byId.set(conn.id, conn)
    if (conn.protocol === 'udp') return
    this.streamCount++
    const source = sourceOf(conn.remoteAddress)
    this.perIp.set(source, (this.perIp.get(source) ?? 0) + 1)
  }

  remove(conn: BaseConnection): void {
    if (!this.byId.delete(conn.id)) return
    if (conn.protocol === 'udp') return
    this.streamCount--
    const source = sourceOf(conn.remoteAddress)
    const n = (this.perIp.get(source) ?? 0) - 1
    if (n > 0) this.perIp.set(source, n)
    else this.perIp.delete(source)
  }

  get(id: number): BaseConnection | undefined {
    return this.byId.get(id)
  }

  [Symbol.iterator](): IterableIterator<BaseConnection> {
    return this.byId.values()
  }

  closeAll(reason: CloseReason = 'server-close'): void {
    for (const conn of [...this.byId.values()]) conn.close(reason)
  }
}
