// Where the unicast locator sends a node its query, and in which form.
//
// enet's own producers beat from one socket and take a framed msgId 20 query
// on it. Go enet's producers beat from a fresh socket each time (its port is
// dead once the beat is out) and listen on the port they announce for the
// bare resource name. The beats tell them apart (heartbeat's `socket`), and
// until they do both forms go out. The bare name goes only to the announced
// port of the very IP the beat came from: a beat can never aim queries at a
// third host.
import { isIP } from 'node:net'
import type { NodeInfo } from '../heartbeat/index.ts'

export type QueryTarget =
  | { readonly form: 'tcp'; readonly connId: number }
  /** `[msgId 20][name]` to the address the node beats from. */
  | { readonly form: 'framed'; readonly address: string; readonly port: number }
  /** The bare name, no header, to the announced port (the Go producers' query port). */
  | { readonly form: 'raw'; readonly address: string; readonly port: number }

/** `rawQueries: false` keeps to the framed query at the beat-from address. */
export function queryTargets(n: NodeInfo, rawQueries: boolean): QueryTarget[] {
  const from = n.from
  if (from.protocol === 'inject') return []
  // TCP, TLS and WebSocket: back over the connection the beats came on.
  if (from.protocol !== 'udp') return [{ form: 'tcp', connId: from.connId }]
  const framed: QueryTarget = { form: 'framed', address: from.address, port: from.port }
  const announced = splitNode(n.node)
  if (!rawQueries || n.socket === 'kept' || announced === null || !sameIp(announced.host, from.address)) return [framed]
  if (announced.port === from.port) return [framed]
  // Sent to the source IP as the socket saw it, so an IPv4 node behind a dual-stack socket keeps its form.
  const raw: QueryTarget = { form: 'raw', address: from.address, port: announced.port }
  return n.socket === 'per-beat' ? [raw] : [framed, raw]
}

function splitNode(node: string): { host: string; port: number } | null {
  const colon = node.lastIndexOf(':')
  if (colon <= 0) return null
  const host = node.startsWith('[') ? node.slice(1, colon - 1) : node.slice(0, colon)
  return { host, port: Number(node.slice(colon + 1)) }
}

/** A DNS name never matches: resolving what a peer announced is not the server's business. */
function sameIp(announced: string, source: string): boolean {
  if (isIP(announced) === 0) return false
  return unmapped(announced).toLowerCase() === unmapped(source).toLowerCase()
}

const unmapped = (ip: string) => (ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip)
