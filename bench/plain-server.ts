// The baseline: a plain Node net/dgram TLV echo server, no framework, written
// the way a careful hand-rolled server would be.
//   TCP: [msgId u32 BE][len u32 BE][data] frames parsed from the stream (a
//        frame may span reads, a read may hold many frames); the replies to
//        one read are encoded into one buffer and written once.
//   UDP: [msgId u32 BE][data], one message per datagram, echoed with
//        socket.send to the sender's address.
// Run as a child of bench/index.ts: node --expose-gc bin/run.mjs bench/plain-server.ts
import net from 'node:net'
import dgram from 'node:dgram'
import { runServerChild } from './common.ts'

const HEADER = 8
const MAX_PACKET = 65536
const host = '127.0.0.1'

function onTcpConnection(socket: net.Socket): void {
  socket.setNoDelay(true)
  let pending: Buffer | null = null
  socket.on('data', (chunk: Buffer) => {
    let buf = chunk
    if (pending) {
      buf = Buffer.concat([pending, chunk])
      pending = null
    }
    // First pass: how many bytes of whole frames this read holds.
    let end = 0
    while (buf.length - end >= HEADER) {
      const len = buf.readUInt32BE(end + 4)
      if (len > MAX_PACKET) {
        socket.destroy()
        return
      }
      if (buf.length - end < HEADER + len) break
      end += HEADER + len
    }
    if (end > 0) {
      // Second pass: encode each reply (msgId, length, data) into one buffer.
      const out = Buffer.allocUnsafe(end)
      for (let off = 0; off < end; ) {
        const len = buf.readUInt32BE(off + 4)
        out.writeUInt32BE(buf.readUInt32BE(off), off)
        out.writeUInt32BE(len, off + 4)
        buf.copy(out, off + HEADER, off + HEADER, off + HEADER + len)
        off += HEADER + len
      }
      socket.write(out)
    }
    if (end < buf.length) pending = buf.subarray(end)
  })
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
    tcp.listen({ host, port: 0 }, resolve)
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
