// A codec is an interface users implement: here a line-delimited text framer
// (`<msgId> <data>\n`), the kind zinx users ask for, runs the whole server.
import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { EnetError, type FrameCodec, type FrameDecoder } from '../../core/index.ts'
import { useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

class LineDecoder implements FrameDecoder {
  msgId = 0
  data: Buffer = Buffer.alloc(0)
  private buf: Buffer = Buffer.alloc(0)
  constructor(public maxPacketSize: number) {}
  get pending() {
    return this.buf.length
  }
  push(chunk: Buffer) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
  }
  next(): boolean {
    const nl = this.buf.indexOf(0x0a)
    if (nl < 0) {
      if (this.buf.length > this.maxPacketSize + 11) throw new EnetError('ENET_ERR_FRAME_TOO_LARGE', [this.buf.length, this.maxPacketSize])
      return false
    }
    const line = this.buf.subarray(0, nl).toString()
    this.buf = this.buf.subarray(nl + 1)
    const m = /^(\d{1,10}) (.*)$/s.exec(line)
    if (!m) throw new EnetError('ENET_ERR_BAD_FRAME', [`not "<msgId> <data>": ${JSON.stringify(line.slice(0, 40))}`])
    this.msgId = Number(m[1])
    this.data = Buffer.from(m[2]!)
    return true
  }
}

const lines: FrameCodec = {
  name: 'lines',
  encode: (msgId, data) => Buffer.from(`${msgId} ${data.toString()}\n`),
  createDecoder: (max) => new LineDecoder(max),
}

const h = useHarness()

describe('a user codec', () => {
  it('frames requests and replies; a bad line closes the connection with bad-frame', async () => {
    const { server, tcpPort } = await h.start({ tcp: { codec: lines } }, (s) => s.route(3, (req) => void req.reply(3, req.text().toUpperCase())))
    const stops: string[] = []
    server.hooks.onConnStop.tap('test', (_c, reason) => void stops.push(reason))
    const socket = net.connect(tcpPort, '127.0.0.1')
    h.onCleanup(() => socket.destroy())
    let got = ''
    socket.on('data', (d) => (got += d.toString()))
    socket.write('3 hel')
    socket.write('lo\n3 world\n')
    await until(() => got === '3 HELLO\n3 WORLD\n')
    socket.write('nonsense\n')
    await until(() => stops.length === 1)
    expect(stops).toEqual(['bad-frame'])
  })
})
