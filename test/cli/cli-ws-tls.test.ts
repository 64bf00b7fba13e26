// `enet start --ws` and `--tls` as a user runs them: the listening line names
// both, clients of each get answers, `--help` lists the flags, and a missing
// certificate is one line with exit code 2.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { connect, type Client } from '../../core/client/index.ts'
import { parseBlocks } from '../docs/blocks.ts'
import { useCerts } from '../helpers/certs.ts'
import { startEnet, type EnetProcess } from '../helpers/enet-process.ts'

const BIN = fileURLToPath(new URL('../../bin/enet.mjs', import.meta.url))
const certs = useCerts()
const dir = mkdtempSync(join(tmpdir(), 'enet-cli-ws-tls-'))
const procs: EnetProcess[] = []
const clients: Client[] = []
afterAll(async () => {
  for (const c of clients) await c.close()
  for (const p of procs) await p.stop()
  rmSync(dir, { recursive: true, force: true })
})

// A plugin with one route that names the transport, so the answers come from a plugin.
writeFileSync(join(dir, 'enet.config.ts'), `export default { admin: { socket: false }, plugins: { dirs: ['plugins'], watch: false } }\n`)
mkdirSync(join(dir, 'plugins', 'echo'), { recursive: true })
writeFileSync(join(dir, 'plugins', 'echo', 'index.ts'), `export default { name: 'echo', routes: { 1: (req) => { req.reply(1, req.conn.protocol + ':' + req.text()) } } }\n`)

function cli(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, ENET_TCP: '', ENET_UDP: '', ENET_WS: '', ENET_TLS: '' } })
}

describe('enet start --ws / --tls', () => {
  it('listens on both beside TCP; a ws:// and a tls:// client get answers from a plugin', async () => {
    const cert = certs.make('cli')
    const p = startEnet(['--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--ws', '127.0.0.1:0', '--tls', '127.0.0.1:0', '--tls-cert', cert.cert, '--tls-key', cert.key], { cwd: dir })
    procs.push(p)
    const ports = await p.ports
    expect(ports.ws).toBeGreaterThan(0)
    expect(ports.tls).toBeGreaterThan(0)
    const ws = connect(`ws://127.0.0.1:${ports.ws}/`, { reconnect: false })
    const tls = connect(`tls://127.0.0.1:${ports.tls}`, { reconnect: false, tls: { ca: cert.pem } })
    clients.push(ws, tls)
    expect((await ws.request(1, 'a')).data.toString()).toBe('ws:a')
    expect((await tls.request(1, 'b')).data.toString()).toBe('tls:b')
    expect(await p.waitLog((l) => l.msg === 'listening')).toMatchObject({ ws: { port: ports.ws }, tls: { port: ports.tls } })
    expect((await p.stop()).code).toBe(0)
  })

  it("README.md's TLS start block runs as shown: openssl makes the certificate, enet start serves it", async () => {
    const block = parseBlocks('README.md').find((b) => b.lang === 'sh' && b.args.by?.[0] === 'test/cli/cli-ws-tls.test.ts')
    expect(block, 'the README block pinned by this test').toBeDefined()
    const [openssl, start] = block!.text.replace(/\\\n\s*/g, '').trim().split('\n')
    const here = mkdtempSync(join(tmpdir(), 'enet-readme-tls-'))
    try {
      const made = spawnSync('bash', ['-c', openssl!], { cwd: here, encoding: 'utf8' })
      expect(made.status, made.stderr).toBe(0)
      const args = start!.split(/\s+/)
      expect(args.slice(0, 3)).toEqual(['npx', 'enet', 'start'])
      // The shown port becomes a free one; TCP and UDP stay off the shared 6430.
      const p = startEnet([...args.slice(3).map((a) => a.replace('127.0.0.1:6432', '127.0.0.1:0')), '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0'], { cwd: here })
      procs.push(p)
      const { tls } = await p.ports
      const c = connect(`tls://127.0.0.1:${tls}`, { reconnect: false, tls: { ca: readFileSync(join(here, 'cert.pem')) } })
      clients.push(c)
      await c.ready()
      await c.close()
      expect((await p.stop()).code).toBe(0)
    } finally {
      rmSync(here, { recursive: true, force: true })
    }
  })

  it('--help lists --ws and --tls with its certificate flags', () => {
    const r = cli(['--help'])
    expect(r.status).toBe(0)
    expect(r.stdout).toMatch(/--ws HOST:PORT/)
    expect(r.stdout).toMatch(/--tls HOST:PORT --tls-cert FILE --tls-key FILE \[--tls-ca FILE\]/)
  })

  it.each([
    ['--tls without a certificate', ['--tls', '127.0.0.1:0'], /^enet: invalid config: .*tls\.cert: required when tls is on/],
    ['a certificate file that is not there', ['--tls', '127.0.0.1:0', '--tls-cert', 'nope.crt', '--tls-key', 'nope.key'], /^enet: tls: tls\.cert \S*nope\.crt: ENOENT$/],
    ['a bad --ws', ['--ws', 'nowhere'], /--ws.*HOST:PORT/],
  ])('%s: exit code 2 and one stderr line', (_what, flags, re) => {
    const r = cli(['start', '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', ...flags])
    expect(r.status).toBe(2)
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(re)
  })
})
