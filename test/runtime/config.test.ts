// Config: defaults, one-line validation errors naming the key, env and flag
// layering over enet.config.ts (loaded by jiti), diffs, live reconfigure.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { diffConfig, envPatch, liveConfig, resolveConfig } from '../../core/config.ts'
import { loadConfig } from '../../core/runtime/config-file.ts'
import { EnetError } from '../../core/errors.ts'
import type { Outcome } from '../../core/types.ts'
import { LEVEL } from '../helpers/logs.ts'
import { useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()

const dirs: string[] = []
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** A temp dir holding enet.config.ts with `source`. */
async function configDir(source: string, name = 'enet.config.ts'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'enet-config-'))
  dirs.push(dir)
  await writeFile(join(dir, name), source)
  return dir
}

async function rejection(p: Promise<unknown>): Promise<EnetError> {
  try {
    await p
  } catch (err) {
    return err as EnetError
  }
  throw new Error('expected a rejection')
}

function configError(input: unknown): EnetError {
  try {
    resolveConfig(input)
  } catch (err) {
    expect(err).toBeInstanceOf(EnetError)
    expect((err as EnetError).code).toBe('ENET_ERR_CONFIG')
    expect((err as Error).message).not.toContain('\n')
    return err as EnetError
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`)
}

describe('defaults', () => {
  it('fills every key from an empty config', () => {
    // toMatchObject: sections added later (admin, ...) do not break this table of SPEC §5 defaults.
    expect(resolveConfig({})).toMatchObject({
      name: 'enet',
      tcp: { enabled: true, host: '0.0.0.0', port: 6430, codec: 'tlv-be' },
      udp: { enabled: true, host: '0.0.0.0', port: 6430, codec: 'enet', maxPeers: 10_000 },
      limits: {
        maxConn: 10_000,
        maxConnPerIp: 100,
        maxPacketSize: 4096,
        frameTimeoutMs: 10_000,
        idleTimeoutMs: 60_000,
        handlerTimeoutMs: 5_000,
        maxInflightPerConn: 64,
        maxOutboundBytes: 1024 * 1024,
        drainTimeoutMs: 5_000,
      },
      unknownMsgReplyId: null,
      errorReplyId: null,
      log: { level: 'info', pretty: 'auto' },
      plugins: {
        dirs: ['plugins'],
        watch: true,
        strict: false,
        disabled: [],
        options: {},
        setupTimeoutMs: 5_000,
        drainTimeoutMs: 5_000,
        debounceMs: 50,
      },
    })
    expect(resolveConfig(undefined)).toEqual(resolveConfig({}))
  })

  it('keeps given values and fills the rest of a section', () => {
    const c = resolveConfig({ tcp: { port: 0 }, limits: { maxPacketSize: 1024 * 1024 } })
    expect(c.tcp).toEqual({ enabled: true, host: '0.0.0.0', port: 0, codec: 'tlv-be' })
    expect(c.limits.maxPacketSize).toBe(1024 * 1024)
    expect(c.limits.maxConn).toBe(10_000)
  })
})

describe('validation', () => {
  it('an unknown key is one line naming the key', () => {
    expect(configError({ limits: { maxConnn: 5 } }).message).toMatch(/limits.*"maxConnn"/)
    expect(configError({ prot: 1 }).message).toContain('"prot"')
    expect(configError({ tcp: { hots: 'x' } }).message).toMatch(/tcp.*"hots"/)
  })

  it('a wrong type names the key and the expected type', () => {
    const m = configError({ limits: { maxConn: 'many' } }).message
    expect(m).toContain('limits.maxConn')
    expect(m).toContain('expected number, got string')
    expect(configError({ tcp: { enabled: 'yes' } }).message).toMatch(/tcp\.enabled.*expected boolean/)
    expect(configError({ plugins: { dirs: 'plugins' } }).message).toMatch(/plugins\.dirs.*expected array/)
  })

  it('an out-of-range or wrong-choice value names the key and the bound', () => {
    expect(configError({ tcp: { port: 70_000 } }).message).toMatch(/tcp\.port.*65535/)
    expect(configError({ limits: { maxPacketSize: 2 * 1024 * 1024 } }).message).toMatch(/limits\.maxPacketSize.*1048576/)
    expect(configError({ limits: { handlerTimeoutMs: 1.5 } }).message).toMatch(/limits\.handlerTimeoutMs.*integer/i)
    expect(configError({ log: { level: 'loud' } }).message).toMatch(/log\.level.*'debug'.*'loud'/)
    expect(configError({ tcp: { codec: 'json' } }).message).toMatch(/tcp\.codec/)
  })

  it('createServer validates too', async () => {
    const { createServer } = await import('../../core/engine/server.ts')
    expect(() => createServer({ limits: { maxConn: 0 } })).toThrowError(expect.objectContaining({ code: 'ENET_ERR_CONFIG', message: expect.stringContaining('limits.maxConn') }))
  })
})

describe('environment', () => {
  it('ENET_TCP, ENET_UDP, ENET_LOG_LEVEL, ENET_MAX_CONN map to keys', () => {
    expect(envPatch({ ENET_TCP: '127.0.0.1:7000', ENET_UDP: ':0', ENET_LOG_LEVEL: 'debug', ENET_MAX_CONN: '12' })).toEqual({
      tcp: { host: '127.0.0.1', port: 7000 },
      udp: { host: '0.0.0.0', port: 0 },
      log: { level: 'debug' },
      limits: { maxConn: 12 },
    })
    expect(envPatch({})).toEqual({})
  })

  it('a bad env value is one line naming the variable', () => {
    expect(() => envPatch({ ENET_LOG_LEVEL: 'loud' })).toThrowError(/ENET_LOG_LEVEL.*"loud"/)
    expect(() => envPatch({ ENET_TCP: 'localhost' })).toThrowError(/ENET_TCP.*HOST:PORT/)
    expect(() => envPatch({ ENET_TCP: '127.0.0.1:99999' })).toThrowError(/ENET_TCP/)
    expect(() => envPatch({ ENET_MAX_CONN: 'lots' })).toThrowError(/ENET_MAX_CONN.*integer/)
  })
})

describe('loadConfig (enet.config.ts through jiti)', () => {
  const FILE = `import { defineConfig } from 'enet'
export default defineConfig({
  name: 'from-file',
  tcp: { host: '127.0.0.1', port: 1111 },
  log: { level: 'warn' },
  limits: { maxConn: 5 },
  plugins: { dirs: ['my-plugins'] },
})
`

  it('reads the file found in cwd; plugin dirs are relative to it', async () => {
    const dir = await configDir(FILE)
    const { config, file } = await loadConfig({ cwd: dir, env: {} })
    expect(file).toBe(join(dir, 'enet.config.ts'))
    expect(config.name).toBe('from-file')
    expect(config.tcp).toMatchObject({ host: '127.0.0.1', port: 1111 })
    expect(config.limits.maxConn).toBe(5)
    expect(config.limits.maxConnPerIp).toBe(100)
    expect(config.plugins.dirs).toEqual([join(dir, 'my-plugins')])
  })

  it('flags win over env, env wins over the file', async () => {
    const dir = await configDir(FILE)
    const env = { ENET_TCP: '127.0.0.1:2222', ENET_LOG_LEVEL: 'debug' }
    const fromEnv = await loadConfig({ cwd: dir, env })
    expect(fromEnv.config.tcp.port).toBe(2222)
    expect(fromEnv.config.log.level).toBe('debug')
    expect(fromEnv.config.name).toBe('from-file')
    const fromFlags = await loadConfig({ cwd: dir, env, flags: { tcp: { port: 3333 }, log: { level: 'trace' } } })
    expect(fromFlags.config.tcp).toMatchObject({ host: '127.0.0.1', port: 3333 })
    expect(fromFlags.config.log.level).toBe('trace')
    expect(fromFlags.config.limits.maxConn).toBe(5)
  })

  it('a function export is called with the environment', async () => {
    const dir = await configDir(`import { defineConfig } from 'enet'
export default defineConfig((env) => ({ name: env.APP_NAME ?? 'unnamed', limits: { maxConn: Number(env.CONNS ?? 7) } }))
`)
    const { config } = await loadConfig({ cwd: dir, env: { APP_NAME: 'fn-config', CONNS: '9' } })
    expect(config.name).toBe('fn-config')
    expect(config.limits.maxConn).toBe(9)
  })

  it('an explicit --config path is used, and a missing one is an error', async () => {
    const dir = await configDir(FILE, 'other.config.ts')
    const { config } = await loadConfig({ cwd: dir, file: 'other.config.ts', env: {} })
    expect(config.name).toBe('from-file')
    await expect(loadConfig({ cwd: dir, file: 'nope.config.ts', env: {} })).rejects.toMatchObject({ code: 'ENET_ERR_CONFIG_LOAD', message: expect.stringContaining('nope.config.ts') })
  })

  it('no file: defaults plus env', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'enet-config-'))
    dirs.push(dir)
    const { config, file } = await loadConfig({ cwd: dir, env: { ENET_LOG_LEVEL: 'error' } })
    expect(file).toBeNull()
    expect(config.log.level).toBe('error')
    expect(config.tcp.port).toBe(6430)
  })

  it('a bad value in the file names the file and the key', async () => {
    const dir = await configDir(`export default { limits: { maxConn: 'many' } }\n`)
    const err = await rejection(loadConfig({ cwd: dir, env: {} }))
    expect(err).toMatchObject({ code: 'ENET_ERR_CONFIG' })
    expect(err.message).toContain('enet.config.ts')
    expect(err.message).toContain('limits.maxConn')
    expect(err.message).not.toContain('\n')
  })

  it('a file that does not parse is ENET_ERR_CONFIG_LOAD naming the file, on one line', async () => {
    const dir = await configDir(`export default { name: 'x',, }\n`)
    const err = await rejection(loadConfig({ cwd: dir, env: {} }))
    expect(err).toMatchObject({ code: 'ENET_ERR_CONFIG_LOAD' })
    expect(err.message).toContain(join(dir, 'enet.config.ts'))
    expect(err.message).not.toContain('\n')
  })

  it('a default export that is not an object is rejected', async () => {
    const dir = await configDir(`export default 42\n`)
    await expect(loadConfig({ cwd: dir, env: {} })).rejects.toMatchObject({ code: 'ENET_ERR_CONFIG', message: expect.stringContaining('number') })
  })
})

describe('diffConfig', () => {
  it('reports changed keys and the ones that need a restart', () => {
    const a = resolveConfig({})
    const b = resolveConfig({
      tcp: { codec: 'ltv-le', port: 7000 },
      udp: { maxPeers: 5 },
      limits: { handlerTimeoutMs: 100 },
      log: { level: 'debug' },
      plugins: { options: { heartbeat: { ttlMs: 1000 } } },
    })
    const { changed, restartNeeded } = diffConfig(a, b)
    expect(changed.sort()).toEqual(['limits.handlerTimeoutMs', 'log.level', 'plugins.options.heartbeat', 'tcp.codec', 'tcp.port', 'udp.maxPeers'].sort())
    expect(restartNeeded.sort()).toEqual(['tcp.codec', 'tcp.port', 'udp.maxPeers'])
    expect(diffConfig(a, resolveConfig({}))).toEqual({ changed: [], restartNeeded: [] })
    // What a live reload applies: the new live keys, the running value of the rest.
    const live = liveConfig(a, b)
    expect(live.tcp).toEqual(a.tcp)
    expect(live.udp.maxPeers).toBe(a.udp.maxPeers)
    expect(live.limits.handlerTimeoutMs).toBe(100)
    expect(diffConfig(a, live).restartNeeded).toEqual([])
    expect(a.tcp.port).toBe(6430)
  })

  it('sees a changed plugin option deep inside', () => {
    const a = resolveConfig({ plugins: { options: { heartbeat: { ttlMs: 1000 } } } })
    const b = resolveConfig({ plugins: { options: { heartbeat: { ttlMs: 2000 } } } })
    expect(diffConfig(a, b).changed).toEqual(['plugins.options.heartbeat.ttlMs'])
  })
})

describe('server.reconfigure', () => {
  it('applies handlerTimeoutMs live', async () => {
    const outcomes: Outcome[] = []
    const { server, tcpPort } = await h.start({ limits: { handlerTimeoutMs: 60_000 } }, (s) => {
      s.route(6, () => new Promise<void>(() => {}))
      s.route(1, (req) => void req.reply(1, req.data))
      s.hooks.afterHandle.tap('test', (_req, o) => void outcomes.push(o))
    })
    const restart = server.reconfigure(resolveConfig({ ...server.config, limits: { ...server.config.limits, handlerTimeoutMs: 50 } }))
    expect(restart).toEqual([])
    expect(server.config.limits.handlerTimeoutMs).toBe(50)
    const c = await h.tcp(tcpPort)
    c.send(6)
    expect(await c.request(1, 'after')).toMatchObject({ text: 'after' })
    expect(outcomes[0]).toMatchObject({ status: 'timeout' })
  })

  it('applies the log level live', async () => {
    const { server, logs, tcpPort } = await h.start()
    const c = await h.tcp(tcpPort)
    c.send(500)
    await until(() => logs.find('unknown msgId').length === 1)
    server.reconfigure(resolveConfig({ ...server.config, log: { level: 'error' } }))
    expect(server.log.level).toBe('error')
    c.send(501)
    await until(() => server.counters['drop.unknown-msgid'] === 2)
    expect(logs.find('unknown msgId')).toHaveLength(1)
    server.reconfigure(resolveConfig({ ...server.config, log: { level: 'debug' } }))
    server.log.debug('now visible')
    expect(logs.find('now visible', LEVEL.debug)).toHaveLength(1)
  })

  it('applies maxConn live to the next connection', async () => {
    const { server, tcpPort } = await h.start({}, (s) => s.route(1, (req) => void req.reply(1, req.data)))
    const a = await h.tcp(tcpPort)
    await a.request(1, 'a')
    server.reconfigure(resolveConfig({ ...server.config, limits: { ...server.config.limits, maxConn: 1 } }))
    const b = await h.tcp(tcpPort)
    await b.waitClosed()
    expect(server.counters['refused.max-conn']).toBe(1)
    expect(await a.request(1, 'a2')).toMatchObject({ text: 'a2' })
  })

  it('applies idleTimeoutMs live (the sweeper follows)', async () => {
    const stops: string[] = []
    const { server, udpPort } = await h.start({}, (s) => {
      s.route(1, (req) => void req.reply(1, req.data))
      s.hooks.onConnStop.tap('test', (_c, r) => void stops.push(r))
    })
    server.reconfigure(resolveConfig({ ...server.config, limits: { ...server.config.limits, idleTimeoutMs: 100 } }))
    const u = await h.udp(udpPort)
    await u.request(1, 'x')
    await until(() => stops.length === 1)
    expect(stops).toEqual(['idle-timeout'])
  })

  it('reports tcp.port and codec changes as needing a restart and keeps serving on the old port', async () => {
    const { server, tcpPort } = await h.start({}, (s) => s.route(1, (req) => void req.reply(1, req.data)))
    const before = server.config
    const restart = server.reconfigure(
      resolveConfig({ ...before, tcp: { ...before.tcp, port: 7001, codec: 'ltv-le' }, udp: { ...before.udp, codec: 'tlv-be' }, limits: { ...before.limits, maxConn: 9 } }),
    )
    expect(restart.sort()).toEqual(['tcp.codec', 'tcp.port', 'udp.codec'])
    expect(server.config.tcp).toEqual(before.tcp)
    expect(server.config.udp).toEqual(before.udp)
    expect(server.config.limits.maxConn).toBe(9)
    const c = await h.tcp(tcpPort)
    expect(await c.request(1, 'same codec')).toMatchObject({ text: 'same codec' })
  })
})
