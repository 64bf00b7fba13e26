// `enet send` in-process against plain net/dgram servers.
import { once } from 'node:events'
import dgram from 'node:dgram'
import net, { type AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { sendCommand } from '../../core/cli/send.ts'
import { enetDatagram, tlvBE } from '../../core/wire/codec.ts'

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

function sink() {
  return {
    text: '',
    write(chunk: string) {
      this.text += chunk
      return true
    },
  }
}

async function run(argv: string[]) {
  const out = sink()
  const err = sink()
  const code = await sendCommand(argv, out, err)
  return { code, out: out.text, err: err.text }
}

/** Replies to msgId 11 with msgId 10 (the heartbeat list), to 99 never, to anything else with an echo. */
async function tcpServer() {
  const frames: string[] = []
  const arrived = new EventTarget()
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    const d = tlvBE.createDecoder(4096)
    socket.on('data', (chunk) => {
      d.push(chunk)
      while (d.next()) {
        frames.push(`${d.msgId} ${d.data}`)
        arrived.dispatchEvent(new Event('frame'))
        if (d.msgId === 11) socket.write(tlvBE.encode(10, Buffer.from('a:1 b:2 ')))
        else if (d.msgId !== 99) socket.write(tlvBE.encode(d.msgId, d.data))
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => {
    for (const s of sockets) s.destroy()
    return new Promise((r) => server.close(r))
  })
  const frame = () => new Promise((r) => arrived.addEventListener('frame', r, { once: true }))
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, frames, frame }
}

describe('enet send over TCP', () => {
  it('prints the first reply as "<msgId> <data>" with --wait', async () => {
    const srv = await tcpServer()
    expect(await run([srv.address, '7', 'hello 世界', '--wait'])).toEqual({ code: 0, out: '7 hello 世界\n', err: '' })
  })

  it('waits for --reply-id instead of the request msgId', async () => {
    const srv = await tcpServer()
    expect(await run(['--wait', '--reply-id', '10', srv.address, '11', 'x'])).toEqual({ code: 0, out: '10 a:1 b:2 \n', err: '' })
  })

  it('without --wait sends one message and prints nothing', async () => {
    const srv = await tcpServer()
    const arrived = srv.frame()
    expect(await run([srv.address, '10', '127.0.0.1:12345'])).toEqual({ code: 0, out: '', err: '' })
    await arrived
    expect(srv.frames).toEqual(['10 127.0.0.1:12345'])
  })

  it('a timeout is one line on stderr and exit 1', async () => {
    const srv = await tcpServer()
    const r = await run([srv.address, '99', 'x', '--wait', '--timeout', '30'])
    expect(r.code).toBe(1)
    expect(r.out).toBe('')
    expect(r.err).toMatch(/^enet send: no reply with msgId 99 within 30 ms\n$/)
  })

  it('a refused connection is one line on stderr and exit 1', async () => {
    const s = net.createServer().listen(0, '127.0.0.1')
    await once(s, 'listening')
    const port = (s.address() as AddressInfo).port
    await new Promise((r) => s.close(r))
    const r = await run([`127.0.0.1:${port}`, '1', 'x', '--wait'])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^enet send: not connected to tcp:\/\/127\.0\.0\.1:\d+ \(connect ECONNREFUSED[^\n]*\n$/)
  })
})

describe('enet send over UDP', () => {
  it('sends one datagram and prints the reply', async () => {
    const socket = dgram.createSocket('udp4')
    socket.on('message', (msg, rinfo) => {
      const m = { msgId: 0, data: Buffer.alloc(0) }
      enetDatagram.decode(msg, m)
      socket.send(enetDatagram.encode(21, m.data), rinfo.port, rinfo.address)
    })
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    cleanup.push(() => new Promise<void>((r) => socket.close(() => r())))
    const address = `127.0.0.1:${socket.address().port}`
    expect(await run(['--udp', address, '20', 'res', '--wait', '--reply-id', '21'])).toEqual({ code: 0, out: '21 res\n', err: '' })
  })
})

describe('enet send command line', () => {
  it.each([
    [['--bogus', '127.0.0.1:1', '1', 'x'], /--bogus/],
    [['127.0.0.1:1', '1', 'x', '--timeout'], /--timeout/],
    [['127.0.0.1:1', '1', 'x', '--timeout', 'soon'], /--timeout: expected an integer .* got "soon"/],
    [['127.0.0.1:1', '1', 'x', '--reply-id', '-3'], /--reply-id/],
    [['127.0.0.1:1', '1', 'x', '--wait=yes'], /--wait/],
    [['127.0.0.1:1', 'ten', 'x'], /MSGID: .* got "ten"/],
    [['127.0.0.1:1', '4294967296', 'x'], /MSGID/],
    [['localhost', '1', 'x'], /HOST:PORT: .* got "localhost"/],
    [['127.0.0.1:99999', '1', 'x'], /HOST:PORT/],
    [['127.0.0.1:1'], /expected HOST:PORT MSGID \[DATA\]/],
    [['127.0.0.1:1', '1', 'x', 'extra'], /expected HOST:PORT MSGID \[DATA\]/],
  ])('%j exits 2 with one line naming the mistake', async (argv, message) => {
    const r = await run(argv)
    expect(r.code).toBe(2)
    expect(r.out).toBe('')
    expect(r.err).toMatch(message)
    expect(r.err).toMatch(/^enet send: [^\n]+\n$/)
  })
})
