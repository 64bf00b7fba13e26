// Shared shapes and helpers of the benchmark processes: the orchestrator
// (bench/index.ts), the two servers (plain-server.ts, enet-server.ts) and the
// load generator (load.ts) talk over the Node IPC channel with these messages.

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

export type ServerCommand = { type: 'mem'; id: number } | { type: 'stop' }
export type ServerMessage =
  | ServerReady
  | { type: 'mem'; id: number; mem: MemSample }
  | { type: 'error'; message: string }

export interface TcpRunOptions {
  port: number
  conns: number
  inflight: number
  size: number
  warmupMs: number
  measureMs: number
  /** Stop measuring after this many replies even if measureMs has not elapsed. */
  maxMsgs: number
}

export interface UdpRunOptions {
  port: number
  sockets: number
  inflight: number
  size: number
  warmupMs: number
  measureMs: number
  maxMsgs: number
  /** A request not answered within this time counts as lost and its slot is reissued. */
  lossTimeoutMs: number
}

export interface IdleOpenOptions {
  port: number
  count: number
  concurrency: number
  timeoutMs: number
}

export interface ProbeOptions {
  tcpPort: number
  udpPort: number
}

export type LoadCommand =
  | ({ type: 'tcp'; id: number } & TcpRunOptions)
  | ({ type: 'udp'; id: number } & UdpRunOptions)
  | ({ type: 'idle-open'; id: number } & IdleOpenOptions)
  | { type: 'idle-close'; id: number }
  | ({ type: 'probe'; id: number } & ProbeOptions)

export interface RunResult {
  /** Replies received inside the measurement window. */
  msgs: number
  seconds: number
  msgsPerSec: number
  p50Us: number
  p99Us: number
  maxUs: number
  /** Latency samples kept (reservoir when there are more than the cap). */
  samples: number
  /** Requests still unanswered when the drain timeout expired. */
  unanswered: number
  /** UDP: requests given up after lossTimeoutMs; TCP: always 0. */
  lost: number
  /** UDP: replies that arrived after their slot was reissued. */
  late: number
  /** Replies whose header or payload did not match the request. */
  bad: number
  /** Sockets closed by the peer or failed during the run. */
  closed: number
  errors: string[]
}

export interface IdleOpenResult {
  opened: number
  failed: number
  ms: number
  errors: string[]
}

export interface ProbeResult {
  ok: boolean
  problems: string[]
}

export type LoadMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; value: unknown }
  | { type: 'result'; id: number; ok: false; error: string }

export const ECHO_MSG_ID = 1

/** Send one IPC message from a child process; no-op when there is no channel. */
export function send(msg: ServerMessage | LoadMessage): void {
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
 * samples, stop on request. `start` returns the bound ports, a way to count
 * connections and a close function.
 */
export async function runServerChild(
  impl: string,
  start: () => Promise<{ tcp: Endpoint; udp: Endpoint; conns: () => number; counters?: () => Record<string, number>; close: () => Promise<void> }>,
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
  send({ type: 'ready', impl, tcp: server.tcp, udp: server.udp })
}
