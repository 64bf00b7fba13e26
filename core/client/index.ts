// The client library: connect('tcp://host:port') or connect('udp://host:port').
// Replies carry no correlation id on the wire (zinx, Go enet), so a request
// is answered by the first later message with its reply id, oldest first.
import { splitHostPort } from '../wire/address.ts'
import { enetDatagram, tlvBE } from '../wire/codec.ts'
import { EnetError } from '../errors.ts'
import { Client, type ClientOptions } from './base.ts'
import { TcpClient } from './tcp.ts'
import { UdpClient } from './udp.ts'

export { Client, type ClientEvents, type ClientOptions, type Message, type ReconnectOptions, type RequestOptions } from './base.ts'

export function connect(url: string, opts: ClientOptions = {}): Client {
  const m = /^(tcp|udp):\/\/([^/]*)\/?$/.exec(url)
  const at = m ? splitHostPort(m[2]!) : null
  if (!m || at === null || at.host === '' || at.port === 0) throw new EnetError('ENET_ERR_BAD_URL', [JSON.stringify(url)])
  const { host, port } = at
  if (m[1] === 'tcp') {
    const codec = opts.codec ?? tlvBE
    if (!('createDecoder' in codec)) throw new EnetError('ENET_ERR_CONFIG', ['codec for tcp:// must be a FrameCodec'])
    return new TcpClient(url, host, port, codec, opts)
  }
  const codec = opts.codec ?? enetDatagram
  if (!('decode' in codec)) throw new EnetError('ENET_ERR_CONFIG', ['codec for udp:// must be a DatagramCodec'])
  return new UdpClient(url, host, port, codec, opts)
}
