// Route chains and groups (zinx RouterSlices): the order zinx documents,
// next() and abort, async steps, the checks at registration, plugin
// middleware that goes with its version on reload, and a plain route left
// exactly as it was.
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { main as routeGroupsExample } from '../../examples/route-groups.ts'
import { connect, group } from '../../core/index.ts'
import { compileRoute } from '../../core/engine/router.ts'
import type { Middleware, Outcome, Request } from '../../core/types.ts'
import { createProject, type Project } from '../helpers/project.ts'
import { useHarness } from '../helpers/server.ts'
import { deferred, until } from '../helpers/until.ts'

const h = useHarness()
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** The README's code block that begins with `firstLine`. */
function readmeBlock(firstLine: string): string {
  const start = README.indexOf('```ts\n' + firstLine)
  if (start < 0) throw new Error(`README has no ts block starting ${firstLine}`)
  const body = start + '```ts\n'.length
  return README.slice(body, README.indexOf('```', body))
}

/** A step that records its name and goes on. */
const step =
  (trace: string[], name: string): Middleware =>
  (_req, next) => {
    trace.push(name)
    return next()
  }

describe('route chains', () => {
  it('a route with no middleware is its own handler, not a wrapper', () => {
    const handler = (req: Request) => void req.reply(1)
    expect(compileRoute(1, handler, 'app').run).toBe(handler)
    expect(compileRoute(1, [handler], 'app').run).toBe(handler)
    expect(compileRoute(1, [(_r, next) => next(), handler], 'app').run).not.toBe(handler)
  })

  it('runs in zinx\'s documented order: use() middleware first, then the group\'s, then the route\'s own', async () => {
    // zinx examples/zinx_routerSlices/router_group_server/server.go, handler for handler.
    const trace: string[] = []
    const t = (n: number) => step(trace, String(n))
    const handle = (n: number) => (req: Request) => {
      trace.push(String(n))
      req.reply(req.msgId, trace.splice(0).join(' '))
    }
    const { server } = await h.start()
    const g = server.group({ from: 3, to: 10 }, t(1))
    expect(() => g.route(11, handle(2))).toThrow('route for msgId 11 from app: outside its group 3-10')
    g.route(3, handle(2))
    server.route(1, handle(3))
    g.use(t(2), t(3))
    g.route(5, t(4), t(5), handle(6))
    server.use(t(4), t(5))
    server.route(2, handle(6))
    g.route(4, handle(6))
    const run = async (msgId: number) => (await server.inject({ msgId }))[0]!.data.toString()
    expect(await run(3)).toBe('1 2')
    expect(await run(1)).toBe('3')
    expect(await run(5)).toBe('1 2 3 4 5 6')
    expect(await run(2)).toBe('4 5 6')
    expect(await run(4)).toBe('4 5 1 2 3 6')
  })

  it('a step that does not call next() stops the chain: the request ends ok, the rest never runs', async () => {
    const outcomes: Outcome['status'][] = []
    let handled = 0
    const { server, tcpPort } = await h.start({}, (s) => {
      s.hooks.afterHandle.tap('test', (_req, o) => void outcomes.push(o.status))
      const members: Middleware = (req, next) => (req.text() === 'member' ? next() : void req.reply(9, 'members only'))
      s.group([7, 8], members).route(7, (req) => {
        handled++
        req.reply(7, 'welcome')
      })
    })
    const c = await h.tcp(tcpPort)
    expect((await c.request(7, 'stranger')).text).toBe('members only')
    expect((await c.request(7, 'member')).text).toBe('welcome')
    expect(handled).toBe(1)
    expect(outcomes).toEqual(['ok', 'ok'])
    expect(server.counters.failed).toBe(0)
  })

  it('a step that throws (explicit abort) fails the request: logged, afterHandle sees the error, errorReplyId answers', async () => {
    const outcomes: Outcome[] = []
    let handled = 0
    const { logs, tcpPort } = await h.start({ errorReplyId: 99 }, (s) => {
      s.hooks.afterHandle.tap('test', (_req, o) => void outcomes.push(o))
      s.use(() => {
        throw new Error('no token')
      })
      s.route(1, () => void handled++)
    })
    const c = await h.tcp(tcpPort)
    const reply = await c.request(1, 'x')
    expect(reply.msgId).toBe(99)
    expect(reply.text).toContain('handler for msgId 1 (app) failed: no token')
    expect(handled).toBe(0)
    expect(outcomes.map((o) => o.status)).toEqual(['error'])
    expect(logs.find('no token')).toHaveLength(1)
  })

  it('async steps: code after `await next()` runs after the route; the chain keeps the connection\'s order and the handler timeout', async () => {
    const trace: string[] = []
    const gate = deferred()
    const timing: Middleware = async (req, next) => {
      trace.push(`before ${req.text()}`)
      await next()
      trace.push(`after ${req.text()}`)
    }
    const { server, tcpPort } = await h.start({}, (s) => {
      s.route(1, [
        timing,
        async (req) => {
          if (req.text() === 'a') await gate.promise
          trace.push(`handle ${req.text()}`)
          req.reply(1, req.text())
        },
      ])
      s.route(2, [timing, { handle: () => new Promise<void>(() => {}), timeoutMs: 30 }])
    })
    const c = await h.tcp(tcpPort)
    c.send(1, 'a')
    c.send(1, 'b')
    await until(() => trace.length === 1)
    expect(trace).toEqual(['before a'])
    gate.resolve()
    await c.waitFrames(2)
    await until(() => trace.length === 6)
    expect(trace).toEqual(['before a', 'handle a', 'after a', 'before b', 'handle b', 'after b'])
    // The route object's timeoutMs bounds the whole chain.
    c.send(2, 'slow')
    await until(() => server.counters.timedOut === 1)
  })

  it('a step that drops next()\'s promise still holds the request until the route ends, and its rejection fails the request instead of the process', async () => {
    const outcomes: Outcome['status'][] = []
    const gate = deferred()
    const { server } = await h.start({}, (s) => {
      s.hooks.afterHandle.tap('test', (_req, o) => void outcomes.push(o.status))
      // A missing `return`: next() starts the async route and its promise is dropped.
      const careless: Middleware = (_req, next) => {
        void next()
      }
      s.route(1, [careless, async () => await gate.promise])
      s.route(2, [
        careless,
        async () => {
          throw new Error('late failure')
        },
      ])
      s.route(3, [
        async (_req, next) => {
          void next()
        },
        async () => {
          throw new Error('dropped by an async step')
        },
      ])
    })
    const first = server.inject({ msgId: 1 })
    await until(() => server.dispatcher.active === 1)
    expect(outcomes).toEqual([])
    gate.resolve()
    await first
    expect(outcomes).toEqual(['ok'])
    await server.inject({ msgId: 2 })
    expect(outcomes).toEqual(['ok', 'error'])
    // An async step that neither returns nor awaits next(): the request waits for the rest; no unhandled rejection.
    await server.inject({ msgId: 3 })
    expect(outcomes).toEqual(['ok', 'error', 'ok'])
  })

  it('next() called twice fails the request with ENET_ERR_ROUTE_NEXT', async () => {
    const outcomes: Outcome[] = []
    let handled = 0
    const { server } = await h.start({}, (s) => {
      s.hooks.afterHandle.tap('test', (_req, o) => void outcomes.push(o))
      s.route(4, [
        (_req, next) => {
          next()
          return next()
        },
        () => void handled++,
      ])
    })
    await server.inject({ msgId: 4 })
    expect(handled).toBe(1)
    expect(outcomes[0]).toMatchObject({ status: 'error', error: { code: 'ENET_ERR_ROUTE_NEXT', message: 'route for msgId 4 (app): next() called more than once' } })
  })

  it('checks groups and chains at registration, naming what is wrong', async () => {
    const { server } = await h.start()
    expect(() => server.group({ from: 10, to: 3 })).toThrow('route group {"from":10,"to":3}: from 10 is above to 3')
    expect(() => server.group([])).toThrow('route group []: a group needs at least one msgId')
    expect(() => server.group({ from: 1 } as never)).toThrow(/route group \{"from":1\}: msgIds must be \{ from, to \} or a list of msgIds/)
    expect(() => server.group([1, 2], 'auth' as never)).toThrow('group [1, 2]: middleware 0 must be a function (req, next), got string')
    expect(() => server.use(null as never)).toThrow('server.use(): middleware 0 must be a function (req, next), got null')
    expect(() => server.route(1, [] as never)).toThrow('route for msgId 1 from app: a chain needs at least the route itself')
    expect(() => server.route(1, [42, () => {}] as never)).toThrow('route for msgId 1 from app: middleware 0 of the chain must be a function (req, next), got number')
    expect(() => server.group([1, 2]).route(2, () => {}).route(2, () => {})).toThrow('msgId 2 is already routed by app; app cannot take it')
    const standalone = group({ from: 1, to: 2 })
    expect(() => standalone.route(3, () => {})).toThrow('route for msgId 3 from group: outside its group 1-2')
  })
})

describe('plugin middleware', () => {
  let project: Project | undefined
  afterEach(async () => {
    await project?.close()
    project = undefined
  })

  const plugin = (tag: string) => `import { definePlugin, group } from 'enet'
const shop = group({ from: 100, to: 199 }, (req, next) => (req.text() === 'paid' ? next() : void req.reply(req.msgId, '${tag}:pay first')))
export default definePlugin({
  name: 'shop',
  middleware: [(req, next) => { req.reply(1, '${tag}:seen ' + req.msgId); return next() }],
  routes: {
    ...shop.route(100, (req) => { req.reply(100, '${tag}:bought') }).routes,
    5: (req) => { req.reply(5, '${tag}:open') },
  },
})
`

  it('definition middleware and group() routes serve; a reload swaps them with the version, an unload takes them away', async () => {
    project = await createProject({ 'plugins/shop/index.ts': plugin('v1') })
    const p = project
    const client = connect(`tcp://127.0.0.1:${p.app.server.address().tcp!.port}`, { reconnect: false })
    p.app.server.hooks.onClose.tapPromise('client', () => client.close())
    const seen: string[] = []
    client.on('message', (m) => void (m.msgId === 1 && seen.push(m.data.toString())))
    await client.ready()
    const ask = async (msgId: number, text: string) => (await client.request(msgId, text, { timeoutMs: 2_000 })).data.toString()
    expect(await ask(100, 'paid')).toBe('v1:bought')
    expect(await ask(100, 'free')).toBe('v1:pay first')
    expect(await ask(5, '')).toBe('v1:open')
    expect(seen).toEqual(['v1:seen 100', 'v1:seen 100', 'v1:seen 5'])

    const reloaded = p.nextEvents(1, 'reloaded')
    p.write('plugins/shop/index.ts', plugin('v2'))
    await reloaded
    seen.length = 0
    expect(await ask(100, 'free')).toBe('v2:pay first')
    expect(await ask(5, '')).toBe('v2:open')
    expect(seen).toEqual(['v2:seen 100', 'v2:seen 5'])

    const unloaded = p.nextEvents(1, 'unloaded')
    p.remove('plugins/shop')
    await unloaded
    expect(await p.app.server.inject({ msgId: 100, data: 'paid' })).toEqual([])
    expect(p.app.server.router.get(100)).toBeUndefined()
  })

  it('a plugin whose middleware is not a list of functions fails to load, naming the key', async () => {
    project = await createProject({ 'plugins/bad/index.ts': `export default { name: 'bad', middleware: ['auth'], routes: { 1: () => {} } }\n` })
    expect(project.app.plugins.get('bad')).toMatchObject({ status: 'failed', lastError: expect.stringContaining('middleware must be an array of functions (req, next)') })
  })

  it('the README\'s plugin example loads and serves as described', async () => {
    project = await createProject({ 'plugins/shop/index.ts': readmeBlock('// plugins/shop/index.ts') })
    const p = project
    const client = connect(`tcp://127.0.0.1:${p.app.server.address().tcp!.port}`, { reconnect: false })
    p.app.server.hooks.onClose.tapPromise('client', () => client.close())
    await client.ready()
    const ask = async (msgId: number, text: string) => (await client.request(msgId, text, { timeoutMs: 2_000 })).data.toString()
    expect(await ask(100, 'tea')).toBe('pay first')
    expect(await ask(30, '')).toBe('paid')
    expect(await ask(100, 'tea')).toBe('bought tea')
    expect(await ask(100, 'x'.repeat(65))).toBe('too long')
  })
})

describe('examples/route-groups.ts', () => {
  it('is the README\'s block, and prints what the README shows', async () => {
    const source = readFileSync(new URL('../../examples/route-groups.ts', import.meta.url), 'utf8')
    expect(readmeBlock('// Route groups and middleware (zinx RouterSlices) on loopback:')).toBe(source)
    const lines: string[] = []
    await routeGroupsExample((l) => void lines.push(l))
    expect(lines).toEqual(['> 100 tea', '< 100', 'log in first', '> 1 ann', '< 1', 'hello ann', '> 100 tea', '< 100', 'ann bought tea'])
  })
})
