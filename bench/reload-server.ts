// The server of the reload bench's load phase (bench/reload-run.ts): a whole
// app (startApp) on the folder in ENET_BENCH_ROOT, whose echo plugin the
// orchestrator saves while bench/loadgen.c keeps the server saturated from
// another process. Run compiled, under plain node (bench/reload.ts).
// A reload asked over IPC (ServerChild.reload) loads the plugin as it is on
// disk, its transform already cached: what a reload costs the event loop by
// itself. It is forced: sync(dir, true), the watcher's call, finds the folder
// as it was at the last load and does nothing.
import { join } from 'node:path'
import { runServerChild } from './common.ts'

await runServerChild('enet', async () => {
  const root = process.env.ENET_BENCH_ROOT
  if (!root) throw new Error('bench/reload-server: ENET_BENCH_ROOT (the app folder) is not set')
  const { startApp } = await import('../core/runtime/app.ts')
  const app = await startApp({ cwd: root })
  const { tcp, udp } = app.server.address()
  if (!tcp || !udp) throw new Error(`bench/reload-server: expected tcp and udp addresses, got ${JSON.stringify(app.server.address())}`)
  return {
    tcp: { host: tcp.host, port: tcp.port },
    udp: { host: udp.host, port: udp.port },
    conns: () => app.server.connections.size,
    reload: () => app.plugins.sync(join(root, 'plugins/echo')),
    close: () => app.close(),
  }
})
