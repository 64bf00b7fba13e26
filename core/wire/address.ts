// `host:port` as enet writes and reads it everywhere (flags, env, URLs, CLI
// arguments, log lines): an IPv6 host in brackets, a port 0-65535.

export interface HostPort {
  host: string
  port: number
}

/** `host:port` or `[v6]:port`, or null. The host may be empty (`:6430`); the port is 0-65535. */
export function splitHostPort(text: string): HostPort | null {
  const m = /^(?:\[([^\]]+)\]|([^:/\[\]]*)):(\d{1,5})$/.exec(text)
  if (m === null) return null
  const port = Number(m[3])
  return port > 65535 ? null : { host: m[1] ?? m[2]!, port }
}

/** As splitHostPort reads it back: an IPv6 host in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
