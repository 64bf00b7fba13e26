// The baseline: a plain Node net/dgram TLV echo server, no framework.
//   TCP: [msgId u32 BE][len u32 BE][data] frames parsed from the stream (a
//        frame may span reads, a read may hold many frames); each frame is
//        answered with its own socket.write of msgId + data (with
//        BENCH_PLAIN_CORK=1 the writes of one read are corked into one writev).
//   UDP: [msgId u32 BE][data], one message per datagram, echoed with
//        socket.send to the sender's address.
// Run as a child of bench/index.ts: node --expose-gc bin/run.mjs bench/plain-server.ts
import net from 'node:net'
import dgram from 'node:dgram'
import { runServerChild } from './common.ts'

const HEADER = 8
const MAX_PACKET = 65536
const host = '127.0.0.1'
/** BENCH_PLAIN_CORK=1 (the default of index.ts; --plain-nocork turns it off): cork the socket while one read's
 * replies are written, so they leave in one writev instead of one write each. */
const CORK = process.env.BENCH_PLAIN_CORK === '1'

function onTcpConnection(socket: net.Socket): void {
  socket.setNoDelay(true)
  let pending: Buffer | null = null
  socket.on('data', (chunk: Buffer) => {
    if (CORK) {
      socket.cork()
      onData(chunk)
      socket.uncork()
    } else onData(chunk)
  })
  const onData = (chunk: Buffer) => {
    let buf = chunk
    if (pending) {
      buf = Buffer.concat([pending, chunk])
      pending = null
    }
    let off = 0
    while (buf.length - off >= HEADER) {
      const msgId = buf.readUInt32BE(off)
      const len = buf.readUInt32BE(off + 4)
      if (len > MAX_PACKET) {
        socket.destroy()
        return
      }
      if (buf.length - off < HEADER + len) break
      const data = buf.subarray(off + HEADER, off + HEADER + len)
      off += HEADER + len
      const out = Buffer.allocUnsafe(HEADER + len)
      out.writeUInt32BE(msgId, 0)
      out.writeUInt32BE(len, 4)
      data.copy(out, HEADER)
      socket.write(out)
    }
    if (off < buf.length) pending = buf.subarray(off)
  }
  socket.on('error', () => {})
}

await runServerChild('plain', async () => {
  let conns = 0
  const tcp = net.createServer((socket) => {
    conns++
    socket.once('close', () => conns--)
    onTcpConnection(socket)
  })
  tcp.maxConnections = 100_000
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject)
    tcp.listen({ host, port: 0, backlog: 4096 }, resolve)
  })

  const udp = dgram.createSocket('udp4')
  udp.on('message', (msg, rinfo) => {
    if (msg.length < 4 || msg.length > MAX_PACKET + 4) return
    udp.send(msg, rinfo.port, rinfo.address)
  })
  udp.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject)
    udp.bind(0, host, resolve)
  })

  const tcpPort = (tcp.address() as net.AddressInfo).port
  const udpPort = udp.address().port
  return {
    tcp: { host, port: tcpPort },
    udp: { host, port: udpPort },
    conns: () => conns,
    close: async () => {
      udp.close()
      await new Promise<void>((resolve) => tcp.close(() => resolve()))
    },
  }
})
