// Servers and clients that a test opens are closed after it, whatever happened.
import { afterEach } from 'vitest'
import { createServer, type Server } from '../../core/engine/server.ts'
import type { EnetConfigInput } from '../../core/config.ts'
import { FrameClient, type FrameClientOptions } from './frames.ts'
import { logSink, type LogSink } from './logs.ts'
import { UdpClient } from './udp.ts'

export interface Harness {
  server: Server
  logs: LogSink
  tcpPort: number
  udpPort: number
}

type Cleanup = () => unknown

/** Loopback, port 0, both transports, logs into a sink (nothing on stdout). */
export function testConfig(over: EnetConfigInput = {}): EnetConfigInput {
  return {
    ...over,
    tcp: { host: '127.0.0.1', port: 0, ...over.tcp },
    udp: { host: '127.0.0.1', port: 0, ...over.udp },
  }
}

/**
 * Call once per test file: registers an afterEach that closes clients, then
 * servers. Returns helpers that start servers and open clients.
 */
export function useHarness() {
  const cleanups: Cleanup[] = []
  afterEach(async () => {
    // Clients first, so server.close() does not wait on their graceful ends.
    for (const fn of cleanups.splice(0).reverse()) await fn()
  })
  return {
    onCleanup(fn: Cleanup) {
      cleanups.push(fn)
    },
    /** Create a server; `setup` registers routes and taps before it listens. */
    async start(over: EnetConfigInput = {}, setup?: (server: Server) => void): Promise<Harness> {
      const logs = logSink()
      const server = createServer(testConfig(over), { logStream: logs })
      setup?.(server)
      cleanups.push(() => server.close())
      const addr = await server.listen()
      return { server, logs, tcpPort: addr.tcp?.port ?? -1, udpPort: addr.udp?.port ?? -1 }
    },
    async tcp(port: number, opts?: FrameClientOptions): Promise<FrameClient> {
      const c = await FrameClient.connect(port, opts)
      cleanups.push(() => c.close())
      return c
    },
    async udp(port: number): Promise<UdpClient> {
      const c = await UdpClient.open(port)
      cleanups.push(() => c.close())
      return c
    },
  }
}
