// Start the app with the repo's bundled plugins (plus, optionally, a temp
// folder of test plugins), loopback, port 0, no watcher, logs parsed.
import { fileURLToPath } from 'node:url'
import { afterEach } from 'vitest'
import { connect, type Client } from '../../core/client/index.ts'
import { createProject, type Project } from '../helpers/project.ts'

export const PLUGINS = fileURLToPath(new URL('../../plugins', import.meta.url))

export interface Bundled extends Project {
  tcpPort: number
  udpPort: number
  /** A client-library connection, closed after the test. */
  client(protocol: 'tcp' | 'udp'): Promise<Client>
}

/**
 * Call once per file: registers an afterEach that closes what the test opened.
 * `files` are written into the temp project; put test plugins under `plugins/`.
 */
export function useBundled() {
  const cleanups: Array<() => unknown> = []
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn()
  })
  return {
    onCleanup: (fn: () => unknown) => void cleanups.push(fn),
    async start(options: Record<string, Record<string, unknown>> = {}, files: Record<string, string> = {}, extra: Record<string, unknown> = {}): Promise<Bundled> {
      const project = await createProject(files, {
        flags: { admin: { socket: false }, plugins: { dirs: [PLUGINS, 'plugins'], watch: false, strict: true, options, ...extra } },
      })
      cleanups.push(() => project.close())
      const addr = project.app.server.address()
      return Object.assign(project, {
        tcpPort: addr.tcp!.port,
        udpPort: addr.udp!.port,
        async client(protocol: 'tcp' | 'udp') {
          const port = protocol === 'tcp' ? addr.tcp!.port : addr.udp!.port
          const c = connect(`${protocol}://127.0.0.1:${port}`, { reconnect: false })
          cleanups.push(() => c.close())
          await c.ready()
          return c
        },
      })
    },
  }
}
