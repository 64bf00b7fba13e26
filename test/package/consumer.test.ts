// enet as a dependency of someone else's project: `npm pack`, install the
// tarball into a new project outside this repo, then use it the ways a user
// does — plain Node ESM, TypeScript types, `npx enet start` with the project's
// own plugins and config plus the bundled heartbeat and locator, a client
// script, and the server embedded in a program. The project's files are the
// blocks of docs/package.md, as shown there (only the ports become free ones).
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseBlocks } from '../docs/blocks.ts'
import { until } from '../helpers/until.ts'

const run = promisify(execFile)
const DOC = 'docs/package.md'
const [install, configBlock, pluginBlock, clientBlock, embedBlock] = parseBlocks(DOC).map((b) => b.text)
/** The `// …` comments a block shows as its output, in order. */
const shown = (block: string) => [...block.matchAll(/console\.log\(.*\/\/ (.+)$/gm)].map((m) => m[1]!.trim())
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const NPM_TIMEOUT_MS = 180_000

let app: string
const write = (rel: string, text: string) => {
  mkdirSync(dirname(join(app, rel)), { recursive: true })
  writeFileSync(join(app, rel), text)
}

beforeAll(async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'enet-consumer-'))
  app = join(tmp, 'app')
  mkdirSync(app)
  await run('npm', ['pack', '--silent', '--pack-destination', tmp], { cwd: ROOT, timeout: NPM_TIMEOUT_MS })
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'))!
  write('package.json', JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }, null, 2))
  // The doc's `npm install @enetjs/enet`, from the tarball (it is not on the registry).
  expect(install).toMatch(/^npm install @enetjs\/enet$/m)
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--silent', `../${tarball}`], { cwd: app, timeout: NPM_TIMEOUT_MS })
  write('enet.config.ts', configBlock!.replace(/port: 6430/g, 'port: 0'))
  write('plugins/greet/index.ts', pluginBlock!)
}, NPM_TIMEOUT_MS * 2)

afterAll(() => {
  if (app) rmSync(dirname(app), { recursive: true, force: true })
})

describe('the packed package in a new project', () => {
  it('ships compiled JS, types and the bundled plugins, and no sources or tests', () => {
    const pkg = join(app, 'node_modules/@enetjs/enet')
    const files = (dir: string): string[] => readdirSync(join(pkg, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    const all = files('.')
    expect(all).toContain('dist/core/index.js')
    expect(all).toContain('dist/core/index.d.ts')
    expect(all).toContain('dist/core/client/index.js')
    expect(all).toContain('dist/plugins/heartbeat/index.js')
    // Plain CommonJS beside the compiled transpiler (the build copies it).
    expect(all).toContain('dist/core/runtime/transpile-worker.cjs')
    expect(all).toContain('bin/enet.mjs')
    // The browser client ships as its source: one ES module with no build step.
    expect(all).toContain('core/client/browser.js')
    expect(all).toContain('core/client/browser.d.ts')
    expect(all.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts'))).toEqual([])
    expect(all.filter((f) => /^(test|bench|scripts|examples)\//.test(f))).toEqual([])
  })

  it('a plain app.mjs imports the root and ./client and talks to its own server', async () => {
    write(
      'app.mjs',
      `import { createServer } from '@enetjs/enet'
import { connect } from '@enetjs/enet/client'
const server = createServer({ tcp: { host: '127.0.0.1', port: 0 }, udp: { enabled: false }, log: { level: 'silent' } })
server.route(1, (req) => req.reply(1, 'echo:' + req.text()))
const { tcp } = await server.listen()
const client = connect('tcp://127.0.0.1:' + tcp.port)
const reply = await client.request(1, 'hello')
console.log(reply.data.toString())
await client.close()
await server.close()
`,
    )
    const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: app, timeout: 20_000 })
    expect(stdout.trim()).toBe('echo:hello')
  })

  it('./client alone loads none of the server, chokidar, jiti, zod or pino', async () => {
    // A resolve hook records every module the program loads.
    write('record.mjs', `import { register } from 'node:module'\nregister('./hooks.mjs', import.meta.url)\n`)
    write('hooks.mjs', `import { appendFileSync } from 'node:fs'
export async function resolve(spec, ctx, next) {
  const r = await next(spec, ctx)
  appendFileSync(new URL('./loaded.txt', import.meta.url), r.url + '\\n')
  return r
}
`)
    write('client-only.mjs', `import { connect } from '@enetjs/enet/client'\nconsole.log(typeof connect)\n`)
    const { stdout } = await run(process.execPath, ['--import', './record.mjs', 'client-only.mjs'], { cwd: app, timeout: 20_000 })
    expect(stdout.trim()).toBe('function')
    const loaded = (await import('node:fs')).readFileSync(join(app, 'loaded.txt'), 'utf8').trim().split('\n')
    expect(loaded.some((u) => u.includes('/dist/core/client/index.js'))).toBe(true)
    expect(loaded.filter((u) => /node_modules\/(chokidar|jiti|zod|pino|tapable)\/|\/dist\/core\/(engine|transport|runtime|cli)\//.test(u))).toEqual([])
  })

  it('TypeScript: definePlugin, defineConfig and the client types check with tsc --noEmit', async () => {
    write(
      'tsconfig.json',
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(ROOT, 'node_modules/@types')] },
        include: ['typed.ts'],
      }),
    )
    write(
      'typed.ts',
      `import { definePlugin, defineConfig, type Request } from '@enetjs/enet'
import { connect, type Client, type Message } from '@enetjs/enet/client'

export const plugin = definePlugin({
  name: 'typed',
  options: { greeting: 'hi' },
  routes: { 1: (req: Request) => void req.reply(1, req.text()) },
  setup(ctx) {
    const greeting: string = ctx.options.greeting
    ctx.log.info({ greeting }, 'typed plugin up')
  },
})
export const config = defineConfig({ tcp: { port: 6430 }, plugins: { bundled: ['heartbeat'] } })
export async function ask(): Promise<string> {
  const client: Client = connect('tcp://127.0.0.1:6430')
  const reply: Message = await client.request(1, 'x', { timeoutMs: 1000 })
  await client.close()
  return reply.data.toString('utf8')
}
// A wrong type is an error from the shipped declarations, not a silent any.
// @ts-expect-error maxConn is a number
defineConfig({ limits: { maxConn: 'many' } })
`,
    )
    const r = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, timeout: 120_000 }).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }))
    expect(r.stdout).toBe('')
  }, 120_000)

  it("npx enet start serves the project's plugins and config and the bundled heartbeat and locator; the doc's client script talks to it", async () => {
    expect(install).toMatch(/^npx enet start /m)
    // Its own process group: the stop signal reaches npx and the server it runs, as Ctrl-C does.
    const child = spawn('npx', ['--no-install', 'enet', 'start'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()))
    try {
      await until(() => /enet listening tcp \S+:(\d+) udp \S+:(\d+)/.test(out) || child.exitCode !== null, 30_000, 'the listening line')
      const [, tcpPort, udpPort] = /enet listening tcp \S+:(\d+) udp \S+:(\d+)/.exec(out) ?? []
      expect(tcpPort, err).toBeDefined()
      const names = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.msg === 'plugin loaded').map((l) => l.plugin).sort()
      expect(names).toEqual(['greet', 'heartbeat', 'locator'])

      write('client.mjs', clientBlock!.replace('tcp://127.0.0.1:6430', `tcp://127.0.0.1:${tcpPort}`).replace('udp://127.0.0.1:6430', `udp://127.0.0.1:${udpPort}`))
      const { stdout } = await run(process.execPath, ['client.mjs'], { cwd: app, timeout: 20_000 })
      expect(stdout.split('\n').map((l) => l.trim()).filter(Boolean)).toEqual(shown(clientBlock!))
    } finally {
      process.kill(-child.pid!, 'SIGTERM')
    }
    await exited
    // The server drained and said so (npx's own exit status on a signal varies by npm version).
    expect(out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l).msg)).toContain('closed')
    expect(err).toBe('')
  }, 60_000)

  it("the doc's app.mjs embeds the server with the project's config and plugins", async () => {
    write('app.mjs', embedBlock!)
    const { stdout } = await run(process.execPath, ['app.mjs'], { cwd: app, timeout: 30_000, env: { ...process.env, ENET_LOG_LEVEL: 'silent' } })
    const lines = stdout.split('\n').filter((l) => l && !l.startsWith('{'))
    expect(lines[0]).toBe(shown(embedBlock!)[0])
    expect(lines[1]).toBe('greet v1, heartbeat v1, locator v1')
  })
})
