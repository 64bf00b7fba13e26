// Route groups and middleware (zinx RouterSlices) on loopback:
//   node bin/run.mjs examples/route-groups.ts
import { connect, createServer, type Middleware } from '../core/index.ts'
import { isMain } from './args.ts'

export async function main(out: (line: string) => void = console.log): Promise<void> {
  const server = createServer({ tcp: { host: '127.0.0.1', port: 0 }, udp: { enabled: false }, log: { level: 'silent' } })

  // zinx Use(): every route added after this line runs it first.
  const trace: Middleware = async (req, next) => {
    out(`> ${req.msgId} ${req.text()}`)
    await next()
    out(`< ${req.msgId}`)
  }
  server.use(trace)

  // Not calling next() stops the chain (zinx Abort()); throwing fails the request.
  const loggedIn: Middleware = (req, next) => {
    if (req.conn.get('user') !== undefined) return next()
    req.reply(req.msgId, 'log in first')
  }

  server.route(1, (req) => {
    req.conn.set('user', req.text())
    req.reply(1, `hello ${req.text()}`)
  })
  // zinx Group(100, 199, ...): these routes run trace, then loggedIn, then their own handler.
  server
    .group({ from: 100, to: 199 }, loggedIn)
    .route(100, (req) => void req.reply(100, `${req.conn.get('user')} bought ${req.text()}`))

  const { tcp } = await server.listen()
  const client = connect(`tcp://127.0.0.1:${tcp!.port}`)
  for (const [msgId, text] of [[100, 'tea'], [1, 'ann'], [100, 'tea']] as const) {
    out((await client.request(msgId, text)).data.toString())
  }
  await client.close()
  await server.close()
}

if (isMain(import.meta.url)) await main()
