// "One source" for every per-source quota: an IPv4 address, or an IPv6 /64
// (one host or one customer line gets a whole /64, so a per-address quota
// would hand it 2^64 of them). IPv4-mapped IPv6 is the IPv4 address.
import net from 'node:net'

/** The source an address belongs to: `1.2.3.4`, or `2001:db8:0:1::/64`. */
export function sourceOf(address: string): string {
  if (!address.includes(':')) return address
  let a = address
  const zone = a.indexOf('%')
  if (zone >= 0) a = a.slice(0, zone)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a)
  if (mapped) return mapped[1]!
  if (!net.isIPv6(a)) return address
  const [head = '', tail] = a.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  // An embedded IPv4 tail counts as two groups; the /64 is the first four anyway.
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
  return `${groups.slice(0, 4).map((g) => (g.includes('.') ? g : parseInt(g, 16).toString(16))).join(':')}::/64`
}

/**
 * Entries each source holds in one shared table, each at most `limit`: so a
 * source that fills its share leaves the rest of the table to the others.
 */
export class SourceQuota {
  private readonly held = new Map<string, number>()

  constructor(public limit: number) {}

  /** Take one entry for `source`; false when it already holds `limit`. */
  take(source: string): boolean {
    const n = this.held.get(source) ?? 0
    if (n >= this.limit) return false
    this.held.set(source, n + 1)
    return true
  }

  release(source: string): void {
    const n = this.held.get(source)
    if (n === undefined) return
    if (n <= 1) this.held.delete(source)
    else this.held.set(source, n - 1)
  }

  count(source: string): number {
    return this.held.get(source) ?? 0
  }

  /** Sources holding at least one entry. */
  get sources(): number {
    return this.held.size
  }

  clear(): void {
    this.held.clear()
  }
}
