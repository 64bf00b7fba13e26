// The client library: connect('tcp://host:port'), 'tls://host:port',
// 'ws://host:port/path' (or wss://) and 'udp://host:port'. Replies carry no
// correlation id on the wire (zinx, Go enet), so a request is answered by the
// first later message with its reply id, oldest first.
import { splitHostPort } from '../wire/address.ts'
import { enetDatagram, tlvBE, type FrameCodec } from '../wire/codec.ts'
import { EnetError } from '../errors.ts'
import { Client, type ClientOptions } from './base.ts'
import { TcpClient } from './tcp.ts'
import { UdpClient } from './udp.ts'
import { WsClient } from './ws.ts'

export { Client, type ClientEvents, type ClientOptions, type Message, type ReconnectOptions, type RequestOptions, type TlsClientOptions } from './base.ts'

export function connect(url: string, opts: ClientOptions = {}): Client {
  const m = /^(tcp|tls|udp|wss?):\/\/([^/]*)(\/\S*)?$/.exec(url)
  const at = m ? splitHostPort(m[2]!) : null
  const scheme = m?.[1]
  // A path means something only to WebSocket.
  const path = m?.[3]
  if (!m || at === null || at.host === '' || at.port === 0 || (path !== undefined && path !== '/' && scheme !== 'ws' && scheme !== 'wss')) {
    throw new EnetError('ENET_ERR_BAD_URL', [JSON.stringify(url)])
  }
  const { host, port } = at
  if (scheme === 'udp') {
    const codec = opts.codec ?? enetDatagram
    if (!('decode' in codec)) throw new EnetError('ENET_ERR_CONFIG', ['codec for udp:// must be a DatagramCodec'])
    return new UdpClient(url, host, port, codec, opts)
  }
  const codec = opts.codec ?? tlvBE
  if (!('createDecoder' in codec)) throw new EnetError('ENET_ERR_CONFIG', [`codec for ${scheme}:// must be a FrameCodec`])
  if (scheme === 'ws' || scheme === 'wss') return new WsClient(url, host, port, codec as FrameCodec, opts)
  return new TcpClient(url, host, port, codec as FrameCodec, opts, scheme as 'tcp' | 'tls')
}
