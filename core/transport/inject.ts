// server.inject(): a request through the whole dispatch (hooks, ordering,
// timeouts, the route) with no socket: the replies are collected and returned
// (fastify's inject). For tests and for apps that embed the server.
import { BaseConnection } from '../engine/connection.ts'
import type { Dispatcher } from '../engine/dispatch.ts'
import { toBuffer } from '../wire/codec.ts'
import type { InjectOptions, Payload, RemoteAddress, Reply } from '../types.ts'

class InjectConnection extends BaseConnection {
  readonly replies: Reply[] = []
  constructor(
    readonly protocol: 'tcp' | 'udp',
    readonly remote: RemoteAddress,
  ) {
    super({ connectionClosed() {} })
  }
  send(msgId: number, data?: Payload): boolean {
    if (this.closed) return false
    this.replies.push({ msgId, data: Buffer.from(toBuffer(data)) })
    return true
  }
  protected release(): void {}
}

export async function inject(dispatcher: Dispatcher, opts: InjectOptions): Promise<Reply[]> {
  const conn = new InjectConnection(opts.protocol ?? 'tcp', {
    address: opts.remote?.address ?? '127.0.0.1',
    port: opts.remote?.port ?? 0,
    family: opts.remote?.family ?? 'IPv4',
  })
  await dispatcher.run(conn, opts.msgId, Buffer.from(toBuffer(opts.data)))
  conn.close('server-close')
  return conn.replies
}
