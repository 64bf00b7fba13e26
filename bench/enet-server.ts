// enet with one echo route (msgId 1 → reply msgId 1 with the same data), on
// TCP (tlv-be) and UDP (enet codec), no plugins, silent logs.
// Run as a child of bench/index.ts: node --expose-gc bin/run.mjs bench/enet-server.ts
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
  // --metrics: the request taps and the HTTP listener, as `http` turns them
  // on. The orchestrator scrapes /metrics (bench/loadgen.c scrape, beside the
  // load, as Prometheus would be: the server pays for answering, not asking).
  let observatory: { close(): Promise<void> } | undefined
  let http: { host: string; port: number } | undefined
  if (process.env.BENCH_ENET_METRICS === '1') {
    const { Observatory } = await import('../core/runtime/observe/observatory.ts')
    const o = new Observatory(server)
    observatory = o
    http = await o.listen({ host: '127.0.0.1', port: 0 })
  }
  const addr = await server.listen()
  const tcp = addr.tcp
  const udp = addr.udp
  if (!tcp || !udp) throw new Error(`enet listen() returned ${JSON.stringify(addr)}: expected tcp and udp addresses`)
  return {
    tcp: { host: tcp.host, port: tcp.port },
    udp: { host: udp.host, port: udp.port },
    http,
    conns: () => server.connections.size,
    counters: () => ({ ...server.counters }),
    close: async () => {
      await observatory?.close()
      await server.close()
    },
  }
})
