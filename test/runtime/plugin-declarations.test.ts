// What a plugin declares and the core enforces for it, without the core
// knowing the plugin: per-msgId UDP rate limits and UDP address validation.
import { afterEach, describe, expect, it } from 'vitest'
import { COOKIE_CHALLENGE } from '../../core/wire/cookie.ts'
import { useHarness } from '../helpers/server.ts'
import { createProject, type Project } from '../helpers/project.ts'
import { UdpClient } from '../helpers/udp.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()
const projects: Project[] = []
afterEach(async () => {
  for (const p of projects.splice(0)) await p.close()
})

/** Sends `n` datagrams of msgId at once; resolves once the server has taken or dropped all of them. */
async function burst(c: UdpClient, msgId: number, n: number, counted: () => number): Promise<void> {
  const before = counted()
  await Promise.all(Array.from({ length: n }, (_, i) => c.send(msgId, `m${i}`)))
  await until(() => counted() - before >= n, 2_000, `${n} datagrams taken or dropped`)
}

describe('a route rate', () => {
  it('limits each source IP over UDP; udp.rateLimits in the config overrides it, false lifts it', async () => {
    const cases = [[{}, 3], [{ udp: { rateLimits: { '5': { perSec: 1, burst: 5 } } } }, 5], [{ udp: { rateLimits: { '5': false } } }, 10]] as const
    for (const [config, expected] of cases) {
      let handled = 0
      const { server, udpPort } = await h.start(config, (s) => s.route(5, { rate: { perSec: 1, burst: 3 }, handle: (req) => void (handled++, req.reply(5, 'ok')) }))
      const c = await h.udp(udpPort)
      await burst(c, 5, 10, () => handled + server.counters['drop.rate-limit']!)
      expect(handled).toBe(expected)
      expect(server.counters['drop.rate-limit']).toBe(10 - expected)
    }
  })

  it('is checked at registration, naming the msgId and the bad value', async () => {
    const { server } = await h.start()
    expect(() => server.route(6, { rate: { perSec: 0, burst: 3 }, handle() {} })).toThrow(/msgId 6.*rate must be \{ perSec, burst \}.*"perSec":0/)
  })
})

describe("a plugin's rateLimits", () => {
  const limited = (rates: string) => `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'limited',
  rateLimits: ${rates},
  routes: { 7: (req) => { req.reply(7, 'seen') } },
})
`

  it("apply to the plugin's routes over UDP", async () => {
    const p = await createProject({ 'plugins/limited/index.ts': limited('{ 7: { perSec: 1, burst: 2 } }') })
    projects.push(p)
    const c = await h.udp(p.app.server.address().udp!.port)
    await burst(c, 7, 6, () => c.frames.length + p.app.server.counters['drop.rate-limit']!)
    expect(c.frames.map((f) => f.text)).toEqual(['seen', 'seen'])
  })

  it('naming a msgId the plugin does not route fails the load and says which', async () => {
    const p = await createProject({ 'plugins/limited/index.ts': limited('{ 8: { perSec: 1, burst: 2 } }') })
    projects.push(p)
    const failure = p.app.plugins.list().find((x) => x.name === 'limited')
    expect(failure?.status).toBe('failed')
    expect(failure?.lastError).toMatch(/msgId 8.*rateLimits names a msgId this plugin does not route/)
  })
})

describe('ctx.requireAddressValidation()', () => {
  const big = (validate: boolean) => `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'big',
  setup(ctx) { ${validate ? 'ctx.requireAddressValidation()' : ''} },
  routes: { 9: (req) => { req.reply(9, 'x'.repeat(1000)) } },
})
`

  it("turns udp.strict 'auto' on while the asking version lives, and off when a version that does not ask replaces it", async () => {
    const p = await createProject({ 'plugins/big/index.ts': big(true) })
    projects.push(p)
    const port = p.app.server.address().udp!.port
    const first = await h.udp(port)
    // 4 bytes in, 1,000 out: an unproven source gets the cookie challenge instead.
    expect((await first.request(9, 'hey!')).msgId).toBe(COOKIE_CHALLENGE)

    p.write('plugins/big/index.ts', big(false))
    await p.nextEvents(1, 'reloaded')
    const second = await h.udp(port)
    const reply = await second.request(9, 'hey!')
    expect(reply.msgId).toBe(9)
    expect(reply.data.length).toBe(1000)
  })
})

describe('rateInForce', () => {
  it('is one rule for UDP and TCP: the config over the declared rate, false lifts it, nothing means none', async () => {
    const { rateInForce } = await import('../../core/engine/source-rates.ts')
    const declared = { perSec: 1, burst: 3 }
    const config = { perSec: 9, burst: 9 }
    expect(rateInForce({}, 5, declared)).toBe(declared)
    expect(rateInForce({ '5': config }, 5, declared)).toBe(config)
    expect(rateInForce({ '5': config }, 5, null)).toBe(config)
    expect(rateInForce({ '5': false }, 5, declared)).toBeNull()
    expect(rateInForce({ '6': config }, 5, undefined)).toBeNull()
  })
})
