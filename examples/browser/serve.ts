// enet over WebSocket for a browser page: an enet server whose msgId 1
// answers with what it got, and a page that uses the browser client.
//
//   node bin/run.mjs examples/browser/serve.ts [--ws 6431] [--http 8080]
//   then open http://127.0.0.1:8080/
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { parseArgs } from 'node:util'
import { createServer } from '../../core/index.ts'

const { values } = parseArgs({ options: { ws: { type: 'string', default: '6431' }, http: { type: 'string', default: '8080' } } })
const files: Record<string, [string, string]> = {
  '/': ['text/html', readFileSync(new URL('./index.html', import.meta.url), 'utf8')],
  '/enet.js': ['text/javascript', readFileSync(new URL('../../core/client/browser.js', import.meta.url), 'utf8')],
}

const enet = createServer({ tcp: { enabled: false }, udp: { enabled: false }, ws: { host: '127.0.0.1', port: Number(values.ws) }, admin: { socket: false } })
enet.route(1, (req) => void req.reply(1, `you said: ${req.text()}`))
const { ws } = await enet.listen()

const page = http.createServer((req, res) => {
  const file = files[(req.url ?? '/').split('?')[0]!]
  if (!file) return void res.writeHead(404).end()
  res.writeHead(200, { 'content-type': file[0] }).end(file[1])
})
page.listen(Number(values.http), '127.0.0.1', () => {
  const { port } = page.address() as { port: number }
  console.log(`enet WebSocket on ws://127.0.0.1:${ws!.port}/ — open http://127.0.0.1:${port}/?ws=${ws!.port}`)
})

const stop = () => void Promise.all([enet.close(), new Promise((r) => page.close(r))]).then(() => process.exit(0))
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
