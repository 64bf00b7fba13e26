// enet with one echo route (msgId 1 → reply msgId 1 with the same data), on
// TCP (tlv-be) and UDP (enet codec), no plugins, silent logs.
// Run as a child of bench/index.ts: node --expose-gc bin/run.mjs bench/enet-server.ts
import { spawn, type ChildProcess } from 'node:child_process'
import { runServerChild } from './common.ts'

await runServerChild('enet', async () => {
  // Imported lazily so that a missing or broken core is reported over IPC
  // with its stack instead of killing the child before it can say why.
  const { createServer } = await import('../core/index.ts')
  const server = createServer({
    tcp: { host: '127.0.0.1', port: 0 },
    udp: { host: '127.0.0.1', port: 0 },
    plugins: { dirs: [], watch: false },
    log: { level: 'silent' },
    limits: { maxConn: 20000, maxConnPerIp: 20000, maxPacketSize: 65536 },
  })
  server.route(1, (req) => {
    req.reply(1, req.data)
  })
  // --metrics: the request taps, the HTTP listener and a scrape a second, as `http` turns them on.
  // The scraper is a process of its own, as Prometheus is: the server pays for
  // answering /metrics, not for an HTTP client (undici's fetch) in its own loop.
  let scrape: ChildProcess | undefined
  let observatory: { close(): Promise<void> } | undefined
  if (process.env.BENCH_ENET_METRICS === '1') {
    const { Observatory } = await import('../core/runtime/observe/observatory.ts')
    const o = new Observatory(server)
    const at = await o.listen({ host: '127.0.0.1', port: 0 })
    observatory = o
    const url = `http://127.0.0.1:${at.port}/metrics`
    // Bounded: it ends with this process, and after 10 minutes whatever happens.
    const scraper = `const end = Date.now() + 600000
setInterval(() => {
  try { process.kill(${process.pid}, 0) } catch { process.exit() }
  if (Date.now() > end) process.exit()
  fetch(${JSON.stringify(url)}).then((r) => r.text(), () => {})
}, 1000)`
    scrape = spawn(process.execPath, ['-e', scraper], { stdio: 'ignore' })
  }
  const addr = await server.listen()
  const tcp = addr.tcp
  const udp = addr.udp
  if (!tcp || !udp) throw new Error(`enet listen() returned ${JSON.stringify(addr)}: expected tcp and udp addresses`)
  return {
    tcp: { host: tcp.host, port: tcp.port },
    udp: { host: udp.host, port: udp.port },
    conns: () => server.connections.size,
    counters: () => ({ ...server.counters }),
    close: async () => {
      scrape?.kill()
      await observatory?.close()
      await server.close()
    },
  }
})
