// The heartbeat plugin's message ids (Go enet's demo protocol) and its node check.
import { isIPv4, isIPv6 } from 'node:net'

export const MSG = {
  /** A node announces `host:port`; no reply. */
  register: 10,
  /** Anyone asks for the live nodes. */
  list: 11,
  /** The list reply: Go enet answers msgId 11 with msgId 10 (configurable: `replyId`). */
  listReply: 10,
} as const

/** `host:port` as bytes on the wire: a DNS name, IPv4 or bracketed IPv6, then port 1-65535. */
const NODE = /^(?:([A-Za-z0-9.-]{1,253})|\[([0-9A-Fa-f:.]{2,45})\]):([1-9][0-9]{0,4})$/
/** One DNS label: letters, digits and inner hyphens, at most 63 characters. */
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
export const MAX_NODE_LENGTH = 262

/** The node name in canonical form, or null when `text` is not a valid `host:port`. */
export function parseNode(text: string): string | null {
  if (text.length === 0 || text.length > MAX_NODE_LENGTH) return null
  const m = NODE.exec(text)
  if (m === null || Number(m[3]) > 65535) return null
  const [, name, ipv6] = m
  if (ipv6 !== undefined) return isIPv6(ipv6) ? text : null
  // Digits and dots only would be read as an address by resolvers, so it must be one.
  if (/^[0-9.]+$/.test(name!)) return isIPv4(name!) ? text : null
  return name!.split('.').every((label) => LABEL.test(label)) ? text : null
}

/**
 * The page msgId 11 asks for: `page:N` (enet's clients), else 0. A Go
 * consumer sends anything with its 11 (even digits) and always means the
 * list from the start.
 */
export function listPageOf(data: Buffer): number {
  const m = data.length <= 11 ? /^page:(\d{1,6})$/.exec(data.toString('latin1')) : null
  return m === null ? 0 : Number(m[1])
}
