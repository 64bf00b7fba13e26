// The browser client end to end: headless Chromium (Debian's, through
// playwright-core) loads a page from a node:http server on loopback, imports
// core/client/browser.js as it is (no build step), and talks to enet over
// WebSocket. Fails, never skips, when chromium is missing.
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { Connection, Request } from '../../core/types.ts'
import { parseBlocks } from '../docs/blocks.ts'
import { useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

const CHROMIUM = '/usr/bin/chromium'
const CLIENT = readFileSync(new URL('../../core/client/browser.js', import.meta.url), 'utf8')
const PAGE = `<!doctype html><meta charset="utf-8"><title>enet browser test</title>
<script type="module">import * as enet from '/enet.js'; window.enet = enet; document.title = 'ready'</script>`

const h = useHarness()
let browser: Browser
let web: http.Server
let origin: string
/** Served at /readme: README.md's browser example, pointed at the test's server. */
let readmePage = ''

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does)`)
  web = http.createServer((req, res) => {
    if (req.url === '/enet.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(CLIENT)
    else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
    else if (req.url === '/readme') res.writeHead(200, { 'content-type': 'text/html' }).end(readmePage)
    else res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(web.address() as AddressInfo).port}`
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
})

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => web?.close(resolve))
})

async function page(): Promise<Page> {
  const p = await browser.newPage()
  h.onCleanup(() => p.close())
  await p.goto(origin)
  await p.waitForFunction(() => document.title === 'ready')
  return p
}

async function startWs(setup: (s: Parameters<NonNullable<Parameters<typeof h.start>[1]>>[0]) => void) {
  const harness = await h.start({ ws: { host: '127.0.0.1', port: 0, path: '/enet' } }, setup)
  return { ...harness, url: `ws://127.0.0.1:${harness.server.address().ws!.port}/enet` }
}

declare const enet: typeof import('../../core/client/browser.js')

describe('browser client (headless Chromium)', () => {
  it('requests, binary data, ordered replies and pushed messages, through the same routes and hooks', async () => {
    const starts: Connection[] = []
    const stops: string[] = []
    const { url } = await startWs((s) => {
      s.route(1, (req: Request) => void req.reply(1, req.data))
      s.route(2, async (req: Request) => {
        // Later requests finish sooner: replies still leave in arrival order.
        for (let i = 0; i < 10 - Number(req.text()); i++) await new Promise((r) => setImmediate(r))
        req.reply(2, req.data)
      })
      s.route(3, (req: Request) => {
        req.conn.send(30, 'pushed 1')
        req.conn.send(30, 'pushed 2')
      })
      s.hooks.onConnStart.tap('test', (c) => void starts.push(c))
      s.hooks.onConnStop.tap('test', (c, reason) => void stops.push(`${c.protocol}:${reason}`))
    })
    const p = await page()
    const out = await p.evaluate(async (url) => {
      const c = enet.connect(url, { reconnect: false })
      await c.ready()
      const text = (await c.request(1, 'héllo from chromium')).text()
      const bytes = Array.from((await c.request(1, new Uint8Array([0, 1, 254, 255]))).data)
      const ordered = (await Promise.all(Array.from({ length: 10 }, (_, i) => c.request(2, String(i))))).map((m) => m.text())
      const pushed: string[] = []
      const both = new Promise<void>((resolve) =>
        c.on('message', (m) => {
          if (m.msgId === 30) pushed.push(m.text())
          if (pushed.length === 2) resolve()
        }),
      )
      c.send(3)
      await both
      const timeout = await c.request(99, 'nobody', { timeoutMs: 100 }).then(
        () => 'answered',
        (e: { code: string }) => e.code,
      )
      const badId = (() => {
        try {
          c.send(-1)
          return 'sent'
        } catch (e) {
          return (e as { code: string }).code
        }
      })()
      await c.close()
      return { text, bytes, ordered, pushed, timeout, badId }
    }, url)
    expect(out).toEqual({
      text: 'héllo from chromium',
      bytes: [0, 1, 254, 255],
      ordered: Array.from({ length: 10 }, (_, i) => String(i)),
      pushed: ['pushed 1', 'pushed 2'],
      timeout: 'ENET_ERR_REQUEST_TIMEOUT',
      badId: 'ENET_ERR_MSGID_INVALID',
    })
    expect(starts.map((c) => [c.protocol, c.remote.address])).toEqual([['ws', '127.0.0.1']])
    await until(() => stops.length === 1)
    expect(stops).toEqual(['ws:peer-closed'])
  })

  it("answers the server's heartbeat pings on its own: a silent page stays; with heartbeat: false it is closed as not-alive", async () => {
    const stops: string[] = []
    const harness = await h.start({ ws: { host: '127.0.0.1', port: 0, path: '/enet' }, heartbeat: { intervalMs: 100, misses: 2 } }, (s) => {
      s.hooks.onConnStop.tap('test', (_c, reason) => void stops.push(reason))
    })
    const url = `ws://127.0.0.1:${harness.server.address().ws!.port}/enet`
    const p = await page()
    await p.evaluate(async (url) => {
      const answering = enet.connect(url, { reconnect: false })
      const silent = enet.connect(url, { reconnect: false, heartbeat: false })
      ;(window as unknown as { pings: number }).pings = 0
      silent.on('message', (m) => {
        if (m.msgId === 99999) (window as unknown as { pings: number }).pings++
      })
      await Promise.all([answering.ready(), silent.ready()])
      ;(window as unknown as { clients: unknown[] }).clients = [answering, silent]
    }, url)
    // Four intervals: the page that does not answer is given up after two misses.
    await until(() => stops.length === 1, 5_000, 'the silent page closed')
    expect(stops).toEqual(['not-alive'])
    expect(await p.evaluate(() => (window as unknown as { pings: number }).pings)).toBe(2)
    expect(harness.server.connections.size).toBe(1)
    expect(harness.server.counters['heartbeat.pings']).toBeGreaterThanOrEqual(3)
  })

  it("README.md's browser example runs as shown", async () => {
    const block = parseBlocks('README.md').find((b) => b.lang === 'html' && b.args.by?.[0] === 'test/client/browser.test.ts')
    expect(block, 'the README block pinned by this test').toBeDefined()
    const { url } = await startWs((s) => s.route(1, (req: Request) => void req.reply(1, req.data)))
    expect(block!.text).toContain("'ws://127.0.0.1:6431/'")
    readmePage = `<!doctype html><meta charset="utf-8">\n${block!.text.replace("'ws://127.0.0.1:6431/'", JSON.stringify(url))}`
    const p = await browser.newPage()
    h.onCleanup(() => p.close())
    const logged: string[] = []
    p.on('console', (m) => void logged.push(m.text()))
    await p.goto(`${origin}/readme`)
    await until(() => logged.length >= 2, 10_000, 'the two console lines')
    expect(logged.sort()).toEqual(['1 hello enet', 'hello enet'])
  })

  it('queues sends until connected and reconnects after the server drops it', async () => {
    let conns = 0
    const { url, server } = await startWs((s) => {
      s.route(1, (req: Request) => void req.reply(1, req.data))
      s.route(5, (req: Request) => req.conn.close('kicked'))
      s.hooks.onConnStart.tap('test', () => void conns++)
    })
    const p = await page()
    const out = await p.evaluate(async (url) => {
      const c = enet.connect(url, { reconnect: { initialMs: 20, maxMs: 50 } })
      // Sent before the socket opened: queued, then written.
      const early = c.request(1, 'early')
      const first = (await early).text()
      const events: string[] = []
      c.on('disconnect', (reason) => events.push(`down:${reason}`))
      const back = new Promise<void>((resolve) => c.on('connect', () => resolve()))
      c.send(5)
      await back
      const after = (await c.request(1, 'after')).text()
      await c.close()
      return { first, after, events }
    }, url)
    expect(out).toEqual({ first: 'early', after: 'after', events: ['down:kicked', 'down:client-close'] })
    expect(conns).toBe(2)
    await until(() => server.connections.size === 0)
  })
})
