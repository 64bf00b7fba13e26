// Shared shapes and helpers of the orchestrator (bench/index.ts) and the two
// server children (plain-server.ts, enet-server.ts), which talk over the Node
// IPC channel with these messages. The load generator is bench/loadgen.c.

export interface Endpoint {
  host: string
  port: number
}

/** Server child → orchestrator, once listening. */
export interface ServerReady {
  type: 'ready'
  impl: string
  tcp: Endpoint
  udp: Endpoint
  /** enet with metrics on (bench --metrics): its HTTP listener, for the scraper. */
  http?: Endpoint
}

export interface MemSample {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  /** Connections the server itself counts (TCP sockets for plain; all live connections for enet). */
  conns: number
  counters?: Record<string, number>
  gc: boolean
}

export type ServerCommand = { type: 'mem'; id: number } | { type: 'reload'; id: number } | { type: 'stop' }
export type ServerMessage =
  | ServerReady
  | { type: 'mem'; id: number; mem: MemSample }
  | { type: 'reloaded'; id: number }
  | { type: 'error'; message: string }


/** Send one IPC message from a child process; no-op when there is no channel. */
export function send(msg: ServerMessage): void {
  if (process.send && process.connected) process.send(msg)
}

/** Children exit when the orchestrator goes away, even if it was SIGKILLed. */
export function exitWithParent(): void {
  process.on('disconnect', () => process.exit(0))
}

const sleepImmediate = () => new Promise<void>((r) => setImmediate(r))

/** Full GC (when started with --expose-gc), then process.memoryUsage(). */
export async function measureMemory(): Promise<Omit<MemSample, 'conns' | 'counters'>> {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await sleepImmediate()
  }
  await new Promise((r) => setTimeout(r, 50))
  gc?.()
  const m = process.memoryUsage()
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, gc: !!gc }
}

/**
 * The server side of the IPC protocol: report readiness, answer memory
 * samples, reload when the server can, stop on request. `start` returns the bound ports, a way to count
 * connections and a close function.
 */
export async function runServerChild(
  impl: string,
  start: () => Promise<{
    tcp: Endpoint
    udp: Endpoint
    http?: Endpoint
    conns: () => number
    counters?: () => Record<string, number>
    /** Reload the server's plugins as they are on disk (bench/reload-server.ts). */
    reload?: () => Promise<void>
    close: () => Promise<void>
  }>,
): Promise<void> {
  exitWithParent()
  let server: Awaited<ReturnType<typeof start>>
  try {
    server = await start()
  } catch (err) {
    send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
    process.exitCode = 1
    setTimeout(() => process.exit(1), 100)
    return
  }
  process.on('message', (msg: ServerCommand) => {
    if (msg.type === 'mem') {
      void measureMemory().then((m) => {
        send({ type: 'mem', id: msg.id, mem: { ...m, conns: server.conns(), counters: server.counters?.() } })
      })
    } else if (msg.type === 'reload') {
      void server.reload?.().then(() => send({ type: 'reloaded', id: msg.id }))
    } else if (msg.type === 'stop') {
      // Exit codes the orchestrator reports: 3 = close() still pending after 3 s, 4 = close() rejected.
      const hard = setTimeout(() => process.exit(3), 3000)
      hard.unref()
      server.close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(`close() rejected: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
          process.exit(4)
        },
      )
    }
  })
  send({ type: 'ready', impl, tcp: server.tcp, udp: server.udp, ...(server.http ? { http: server.http } : {}) })
}
