// TLS on TCP beside plain TCP: the client's checks, live certificate reload
// (new handshakes get the new certificate, open connections keep theirs; a
// broken file keeps the old one and names itself), client certificates,
// handshake deadline and the connection limits.
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { describe, expect, it } from 'vitest'
import { connect } from '../../core/client/index.ts'
import { resolveConfig } from '../../core/config.ts'
import { createServer } from '../../core/engine/server.ts'
import type { ClientOptions } from '../../core/client/base.ts'
import type { Connection, Request } from '../../core/types.ts'
import { useCerts } from '../helpers/certs.ts'
import { LEVEL } from '../helpers/logs.ts'
import { createProject } from '../helpers/project.ts'
import { useHarness } from '../helpers/server.ts'
import { until } from '../helpers/until.ts'

const h = useHarness()
const certs = useCerts()
const echo = (req: Request) => void req.reply(req.msgId, req.data)
const server1 = certs.make('server1')
const server2 = certs.make('server2')

async function startTls(over: Parameters<typeof h.start>[0] = {}, setup?: Parameters<typeof h.start>[1]) {
  const harness = await h.start({ ...over, tls: { host: '127.0.0.1', port: 0, cert: server1.cert, key: server1.key, ...over.tls } }, setup)
  return { ...harness, port: harness.server.address().tls!.port }
}

function client(url: string, opts: ClientOptions = {}) {
  const c = connect(url, { reconnect: false, ...opts })
  h.onCleanup(() => c.close())
  return c
}

/** The certificate a fresh handshake is served (fingerprint), trusting whatever comes. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256)
      s.destroy()
    })
    s.on('error', reject)
  })
}

describe('TLS transport', () => {
  it('serves frames over TLS beside plain TCP; the connection says tls', async () => {
    const starts: Connection[] = []
    const { port, tcpPort, server } = await startTls({}, (s) => {
      s.route(1, echo)
      s.hooks.onConnStart.tap('test', (c) => void starts.push(c))
    })
    expect(server.address().tcp).toBeDefined()
    const c = client(`tls://127.0.0.1:${port}`, { tls: { ca: server1.pem } })
    expect((await c.request(1, 'secret')).data.toString()).toBe('secret')
    expect(c.protocol).toBe('tls')
    const t = client(`tcp://127.0.0.1:${tcpPort}`)
    expect((await t.request(1, 'plain')).data.toString()).toBe('plain')
    expect(starts.map((s) => s.protocol).sort()).toEqual(['tcp', 'tls'])
  })

  it('a TLS connection first asked for its remote after it ended still names its peer', async () => {
    const seen: Array<{ address: string; port: number; protocol: string }> = []
    const { port, server } = await startTls({}, (s) => {
      s.route(1, echo)
      s.hooks.onConnStop.tap('test', (conn) => void seen.push({ address: conn.remote.address, port: conn.remote.port, protocol: conn.protocol }))
    })
    const c = client(`tls://127.0.0.1:${port}`, { tls: { ca: server1.pem } })
    await c.request(1, 'hi')
    const local = c.localPort
    await c.close()
    await until(() => seen.length === 1)
    expect(seen[0]).toEqual({ address: '127.0.0.1', port: local, protocol: 'tls' })
    expect(server.connections.size).toBe(0)
  })

  it('the client refuses a certificate it does not trust or whose name does not match', async () => {
    const named = certs.make('named', { san: 'DNS:enet.test' })
    const { port } = await startTls({ tls: { cert: named.cert, key: named.key } }, (s) => s.route(1, echo))
    await expect(client(`tls://127.0.0.1:${port}`).ready()).rejects.toMatchObject({ code: 'ENET_ERR_NOT_CONNECTED', message: expect.stringMatching(/self-signed certificate/) })
    await expect(client(`tls://127.0.0.1:${port}`, { tls: { ca: named.pem } }).ready()).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list/)
    const c = client(`tls://127.0.0.1:${port}`, { tls: { ca: named.pem, servername: 'enet.test' } })
    expect((await c.request(1, 'by name')).data.toString()).toBe('by name')
    const anyCert = client(`tls://127.0.0.1:${port}`, { tls: { rejectUnauthorized: false } })
    expect((await anyCert.request(1, 'unchecked')).data.toString()).toBe('unchecked')
  })

  it('with tls.ca, a client must show a certificate that CA signed', async () => {
    const ca = certs.make('ca')
    const member = certs.make('member', { signedBy: ca, san: 'DNS:member' })
    const stranger = certs.make('stranger', { san: 'DNS:stranger' })
    const { port, server, logs } = await startTls({ tls: { ca: ca.cert } }, (s) => s.route(1, echo))
    const ok = client(`tls://127.0.0.1:${port}`, { tls: { ca: server1.pem, cert: member.pem, key: readKey(member) } })
    expect((await ok.request(1, 'member')).data.toString()).toBe('member')
    for (const who of [undefined, stranger]) {
      const c = client(`tls://127.0.0.1:${port}`, { tls: { ca: server1.pem, ...(who ? { cert: who.pem, key: readKey(who) } : {}) } })
      // TLS 1.3: the client learns of the refusal when the server's alert arrives after its handshake.
      await expect(c.request(1, 'x', { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'ENET_ERR_NOT_CONNECTED' })
    }
    await until(() => server.counters['refused.tls-handshake'] === 2)
    expect(logs.find('tls handshake failed', LEVEL.warn).length).toBeGreaterThanOrEqual(1)
    expect((await ok.request(1, 'still')).data.toString()).toBe('still')
  })

  it('a connection that never finishes its handshake is dropped after frameTimeoutMs', async () => {
    const { port, server } = await startTls({ limits: { frameTimeoutMs: 150 } }, (s) => s.route(1, echo))
    const raw = net.connect({ port, host: '127.0.0.1' })
    raw.on('error', () => {})
    await new Promise((r) => raw.once('close', r))
    await until(() => server.counters['refused.tls-handshake'] === 1)
    expect(server.connections.size).toBe(0)
  })

  it('maxConnPerIp counts TLS with TCP, and refuses before the handshake', async () => {
    const { port, tcpPort, server } = await startTls({ limits: { maxConnPerIp: 1 } }, (s) => s.route(1, echo))
    const t = await h.tcp(tcpPort)
    await t.request(1, 't')
    await expect(client(`tls://127.0.0.1:${port}`, { tls: { ca: server1.pem } }).ready()).rejects.toMatchObject({ code: 'ENET_ERR_NOT_CONNECTED' })
    expect(server.counters['refused.max-conn-per-ip']).toBe(1)
    // Refused before the handshake began: not a handshake failure as well.
    expect(server.counters['refused.tls-handshake']).toBe(0)
    t.socket.end()
    await until(() => server.connections.size === 0)
    const c = client(`tls://127.0.0.1:${port}`, { tls: { ca: server1.pem } })
    expect((await c.request(1, 'now')).data.toString()).toBe('now')
  })
})

describe('TLS config', () => {
  it('is off by default; on, it needs cert and key, named in one line', () => {
    expect(resolveConfig({}).tls.enabled).toBe(false)
    expect(() => resolveConfig({ tls: { port: 0 } })).toThrow('invalid config: config: tls.cert: required when tls is on: the path of a PEM file')
    expect(() => resolveConfig({ tls: { enabled: false } })).not.toThrow()
  })

  it('a certificate file that does not load stops listen() with the file named', async () => {
    const junk = `${certs.dir}/junk.crt`
    writeFileSync(junk, 'not a certificate\n')
    const s = createServer({ tcp: { enabled: false }, udp: { enabled: false }, tls: { host: '127.0.0.1', port: 0, cert: junk, key: server1.key }, log: { level: 'silent' } })
    await expect(s.listen()).rejects.toThrow(`tls: tls.cert ${junk}: not a PEM certificate`)
    const missing = `${certs.dir}/missing.key`
    const s2 = createServer({ tcp: { enabled: false }, udp: { enabled: false }, tls: { host: '127.0.0.1', port: 0, cert: server1.cert, key: missing }, log: { level: 'silent' } })
    await expect(s2.listen()).rejects.toThrow(`tls: tls.key ${missing}: ENOENT`)
    const s3 = createServer({ tcp: { enabled: false }, udp: { enabled: false }, tls: { host: '127.0.0.1', port: 0, cert: server1.cert, key: server2.key }, log: { level: 'silent' } })
    await expect(s3.listen()).rejects.toThrow(`tls.key ${server2.key} does not go with tls.cert ${server1.cert}`)
  })
})

describe('TLS certificate reload', () => {
  it('good → broken → good: new handshakes get the new certificate, open connections stay, a broken file keeps the old one', async () => {
    const cert = `${certs.dir}/live.crt`
    const key = `${certs.dir}/live.key`
    copyFileSync(server1.cert, cert)
    copyFileSync(server1.key, key)
    const project = await createProject(
      { 'plugins/echo/index.ts': `export default { name: 'echo', routes: { 1: (req) => { req.reply(1, req.data) } } }\n` },
      { flags: { tls: { host: '127.0.0.1', port: 0, cert, key }, admin: { socket: false } }, debounceMs: 20 },
    )
    h.onCleanup(() => project.close())
    const { server } = project.app
    const port = server.address().tls!.port
    const trust = { tls: { ca: [server1.pem, server2.pem] } }
    const open = client(`tls://127.0.0.1:${port}`, trust)
    expect((await open.request(1, 'one')).data.toString()).toBe('one')
    expect(await servedFingerprint(port)).toBe(server1.fingerprint)

    const reloaded = () => project.logs.find('tls certificate reloaded', LEVEL.info).length
    // Key first, then the certificate: the moment in between does not go with itself.
    copyFileSync(server2.key, key)
    copyFileSync(server2.cert, cert)
    await until(() => reloaded() === 1, 5_000, 'the reload')
    expect(await servedFingerprint(port)).toBe(server2.fingerprint)
    expect((await open.request(1, 'still one')).data.toString()).toBe('still one')
    const second = client(`tls://127.0.0.1:${port}`, trust)
    expect((await second.request(1, 'two')).data.toString()).toBe('two')

    writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n')
    await until(() => project.logs.find('keeping the certificate in use', LEVEL.error).length > 0, 5_000, 'the error line')
    const line = project.logs.find('keeping the certificate in use', LEVEL.error).at(-1)!
    expect(line.msg).toMatch(new RegExp(`^tls: tls\\.cert ${cert.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a PEM certificate`))
    expect(await servedFingerprint(port)).toBe(server2.fingerprint)
    expect((await second.request(1, 'two still')).data.toString()).toBe('two still')

    copyFileSync(server1.key, key)
    copyFileSync(server1.cert, cert)
    await until(() => reloaded() === 2, 5_000, 'the recovery')
    expect(await servedFingerprint(port)).toBe(server1.fingerprint)
    expect(open.connected && second.connected).toBe(true)

    // Saves that rename new files over the old ones (certbot's symlink swap,
    // sed -i, many editors), twice: the watch must outlive the first.
    const renameOver = (from: string, to: string) => {
      copyFileSync(from, `${to}.new`)
      renameSync(`${to}.new`, to)
    }
    for (const [n, c] of [[3, server2], [4, server1]] as const) {
      renameOver(c.key, key)
      renameOver(c.cert, cert)
      await until(() => reloaded() === n, 5_000, `reload ${n} after a rename`)
      expect(await servedFingerprint(port)).toBe(c.fingerprint)
    }
  })

  it('a config edit that points tls.cert/key at other files loads them live', async () => {
    const s = createServer({ tcp: { enabled: false }, udp: { enabled: false }, tls: { host: '127.0.0.1', port: 0, cert: server1.cert, key: server1.key }, log: { level: 'silent' } })
    h.onCleanup(() => s.close())
    const port = (await s.listen()).tls!.port
    const restart = s.reconfigure(resolveConfig({ ...s.config, tls: { ...s.config.tls, cert: server2.cert, key: server2.key } }))
    expect(restart).toEqual([])
    expect(await servedFingerprint(port)).toBe(server2.fingerprint)
    expect(s.reconfigure(resolveConfig({ ...s.config, tls: { ...s.config.tls, port: 1 } }))).toEqual(['tls.port'])
  })
})

function readKey(c: { key: string }): string {
  return readFileSync(c.key, 'utf8')
}
