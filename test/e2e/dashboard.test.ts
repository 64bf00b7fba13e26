// The dashboard end to end in headless Chromium (Debian's chromium driven by
// playwright-core): a node beats and appears on the page; a plugin file is
// saved on disk and its new version shows. ENET_DASHBOARD_SCREENSHOT=FILE
// also drives some traffic and saves a screenshot (docs/dashboard.png).
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser } from 'playwright-core'
import { afterEach, expect, it } from 'vitest'
import { connect, type Client } from '../../core/client/index.ts'
import { createProject, echoPlugin, type Project } from '../helpers/project.ts'

const PLUGINS = fileURLToPath(new URL('../../plugins', import.meta.url))
const CHROMIUM = '/usr/bin/chromium'

let browser: Browser | undefined
let project: Project | undefined
const clients: Client[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
  await browser?.close()
  await project?.close()
  browser = project = undefined
})

it('shows a node that beats, and the new version of a plugin saved on disk', async () => {
  // Loud, not skipped: .ci/run installs chromium.
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`).toBe(true)
  const p = (project = await createProject({ 'plugins/echo/index.ts': echoPlugin('v1') }, { flags: { admin: { socket: false }, http: { host: '127.0.0.1', port: 0 }, plugins: { dirs: [PLUGINS, 'plugins'] } } }))
  const port = p.app.observatory!.address()!.port
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] })
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(err.message))
  await page.goto(`http://127.0.0.1:${port}/`)
  await page.locator('#live.on').waitFor({ timeout: 15_000 })
  const version = page.locator('[data-plugin="echo"] [data-field="version"]')
  expect(await version.textContent()).toBe('v1')

  const udp = connect(`udp://127.0.0.1:${p.app.server.address().udp!.port}`)
  clients.push(udp)
  await udp.ready()
  udp.send(10, '127.0.0.1:7001')
  await page.locator('[data-report="heartbeat.nodes"] td', { hasText: '127.0.0.1:7001' }).waitFor({ timeout: 10_000 })
  expect(await page.locator('[data-report="heartbeat.nodes"] tbody tr').count()).toBe(1)

  p.write('plugins/echo/index.ts', echoPlugin('v2'))
  await page.locator('[data-plugin="echo"] [data-field="version"]', { hasText: 'v2' }).waitFor({ timeout: 15_000 })
  expect(await page.locator('#history tbody tr', { hasText: 'reloaded' }).count()).toBe(1)

  const shot = process.env.ENET_DASHBOARD_SCREENSHOT
  if (shot) {
    const tcp = connect(`tcp://127.0.0.1:${p.app.server.address().tcp!.port}`)
    clients.push(tcp)
    await tcp.ready()
    udp.send(10, '127.0.0.1:7002')
    const until = Date.now() + 25_000
    for (let i = 0; Date.now() < until; i++) {
      await Promise.all(Array.from({ length: 20 }, (_, j) => tcp.request(1, `m${i}.${j}`, { timeoutMs: 2_000 })))
      if (i % 10 === 0) {
        udp.send(10, '127.0.0.1:7001')
        udp.send(10, '127.0.0.1:7002')
        tcp.send(4242, 'unknown')
      }
    }
    await page.screenshot({ path: join(process.cwd(), shot), fullPage: true })
  }
  expect(problems).toEqual([])
}, 90_000)
