// The locator plugin's message ids (Go enet's demo protocol).
export const MSG = {
  /** Client → server: data = resource name. Server → client: the node's `host:port`, or the not-found text. */
  locate: 20,
  /** Server → node: the query (data = resource name, or `resource\nqid` with node authentication), unicast over the enet UDP codec. */
  query: 20,
  /** Node → server: data = `resource\nhost:port` (signed for the query id with node authentication). */
  answer: 21,
} as const

/** Longest resource name accepted, in bytes. */
export const MAX_RESOURCE_BYTES = 255

/** `resource\nhost:port` at most: a name, the newline, and heartbeat's longest `host:port` (262). */
export const MAX_ANSWER_BYTES = MAX_RESOURCE_BYTES + 1 + 262

/** A resource name: 1-255 bytes, no newline (the answer format uses it as the separator). */
export function validResource(name: string, bytes: number): boolean {
  return bytes > 0 && bytes <= MAX_RESOURCE_BYTES && !name.includes('\n')
}

/** `resource\nhost:port` → its parts, or null. `parseNode` validates the address. */
export function parseAnswer(text: string, parseNode: (s: string) => string | null): { resource: string; node: string } | null {
  const nl = text.indexOf('\n')
  if (nl <= 0) return null
  const resource = text.slice(0, nl)
  if (!validResource(resource, Buffer.byteLength(resource))) return null
  const node = parseNode(text.slice(nl + 1))
  return node === null ? null : { resource, node }
}

/** The query's data: the bare name (Go enet's), or `resource\nqid` when answers must be signed for that id. */
export function queryText(resource: string, queryId: string | undefined): string {
  return queryId === undefined ? resource : `${resource}\n${queryId}`
}
