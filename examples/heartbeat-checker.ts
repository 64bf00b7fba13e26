// The connection heartbeat checker on loopback: an enet client that answers
// pings on its own stays, a raw socket that never speaks is pinged twice
// (zinx's frame: msgId 99999, `heartbeat [local->remote]`) and closed as
// not-alive. Exits 0 when that is what happened, 1 otherwise.
//
//   node bin/run.mjs examples/heartbeat-checker.ts
import net from 'node:net'
import { connect, createServer, tlvBE } from '../core/index.ts'
import { isMain } from './args.ts'

export async function main(out: (line: string) => void = console.log): Promise<number> {
  const server = createServer({
    tcp: { host: '127.0.0.1', port: 0 },
    udp: { enabled: false },
    log: { level: 'silent' },
    heartbeat: { intervalMs: 200, misses: 2 },
  })
  server.route(1, (req) => void req.reply(1, req.data))
  // The first connection is the client's, the second the silent socket's.
  const names = ['client', 'silent socket']
  server.hooks.onConnStart.tap('example', (conn) => conn.set('name', names.shift()))
  server.hooks.onRemoteNotAlive.tap('example', (conn) => out(`onRemoteNotAlive: ${conn.get('name')}`))
  server.hooks.onConnStop.tap('example', (conn, reason) => out(`onConnStop: ${conn.get('name')}, reason ${reason}`))
  const { tcp } = await server.listen()
  const port = tcp!.port

  const client = connect(`tcp://127.0.0.1:${port}`)
  await client.ready()

  const silent = net.connect(port, '127.0.0.1')
  const decoder = tlvBE.createDecoder(4096)
  silent.on('data', (chunk) => {
    decoder.push(chunk)
    // Ports are random: shown as P.
    while (decoder.next()) out(`silent socket got msgId ${decoder.msgId}: ${decoder.data.toString().replace(/:\d+/g, ':P')}`)
  })
  await new Promise((resolve) => silent.once('close', resolve))

  const echo = await client.request(1, 'still here', { timeoutMs: 1000 })
  out(`client: ${echo.data.toString()}`)
  const ok = server.counters['closed.not-alive'] === 1 && client.connected
  await client.close()
  await server.close()
  return ok ? 0 : 1
}

if (isMain(import.meta.url)) process.exitCode = await main()
