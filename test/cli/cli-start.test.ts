// `enet start` as a child process: the printed address, serving, SIGTERM → exit 0,
// and one-line errors with exit code 2 for bad flags and bad config.
import { spawn, type ChildProcess } from 'node:child_process'
import net from 'node:net'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { FrameClient } from '../helpers/frames.ts'
import { UdpClient } from '../helpers/udp.ts'

const BIN = fileURLToPath(new URL('../../bin/enet.mjs', import.meta.url))

interface Run {
  child: ChildProcess
  stdout: string
  stderr: string
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const children: ChildProcess[] = []
const dirs: string[] = []
// afterAll, not afterEach: the concurrent tests below would kill each other's children.
afterAll(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

/** A temp dir with an empty plugins/ dir and enet.config.ts holding `source`. */
async function workdir(source: string): Promise<{ dir: string; config: string; plugins: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'enet-cli-'))
  dirs.push(dir)
  const plugins = join(dir, 'plugins')
  await mkdir(plugins)
  const config = join(dir, 'enet.config.ts')
  await writeFile(config, source)
  return { dir, config, plugins }
}

function run(args: string[], cwd: string): Run {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ENET_TCP: '', ENET_UDP: '', ENET_LOG_LEVEL: '', ENET_HTTP: '', ENET_HTTP_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  const r: Run = {
    child,
    stdout: '',
    stderr: '',
    exit: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  }
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (r.stdout += s))
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (r.stderr += s))
  return r
}

/** Resolves with the first stdout line matching `re`; rejects if the process exits first. */
function waitLine(r: Run, re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      for (const line of r.stdout.split('\n')) {
        const m = re.exec(line)
        if (m) {
          cleanup()
          return resolve(m)
        }
      }
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`exited with ${code} before printing ${re}; stderr: ${r.stderr}`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`no line ${re} within ${timeoutMs} ms; stdout: ${r.stdout}; stderr: ${r.stderr}`))
    }, timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      r.child.stdout!.off('data', check)
      r.child.off('exit', onExit)
    }
    r.child.stdout!.on('data', check)
    r.child.on('exit', onExit)
    check()
  })
}

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() !== '')

describe('enet start', () => {
  it('prints the chosen ports, serves TCP and UDP, and exits 0 on SIGTERM closing its clients', async () => {
    const w = await workdir(`import { defineConfig } from 'enet'\nexport default defineConfig({ name: 'cli-test', unknownMsgReplyId: 98 })\n`)
    const r = run(['start', '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--no-watch', '--plugins', w.plugins, '--config', w.config], w.dir)
    const m = await waitLine(r, /^enet listening tcp (127\.0\.0\.1):(\d+) udp (127\.0\.0\.1):(\d+)$/)
    const tcpPort = Number(m[2])
    const udpPort = Number(m[4])
    expect(tcpPort).toBeGreaterThan(0)
    expect(udpPort).toBeGreaterThan(0)

    const c = await FrameClient.connect(tcpPort)
    const u = await UdpClient.open(udpPort)
    try {
      // No plugins: every msgId is unknown, and the config says to answer with 98.
      expect(await c.request(777, 'anyone?', 5_000)).toMatchObject({ msgId: 98, text: 'unknown msgId 777' })
      expect(await u.request(778, 'anyone?', 5_000)).toMatchObject({ msgId: 98, text: 'unknown msgId 778' })

      r.child.kill('SIGTERM')
      await c.waitClosed(5_000)
      expect(await r.exit).toEqual({ code: 0, signal: null })
      expect(r.stderr).toBe('')
      const logs = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { msg: string; name: string; signal?: string })
      expect(logs.find((l) => l.msg === 'listening')).toMatchObject({ name: 'cli-test' })
      expect(logs.find((l) => l.msg === 'stopping')).toMatchObject({ signal: 'SIGTERM' })
      expect(logs.at(-1)!.msg).toBe('closed')
    } finally {
      c.close()
      await u.close()
    }
  })

  it.concurrent('--http HOST:PORT opens the admin listener and prints its address; the port alone binds 127.0.0.1', async () => {
    const w = await workdir(`export default {}\n`)
    const r = run(['start', '--config', w.config, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--http', '0', '--no-watch', '--plugins', w.plugins], w.dir)
    const m = await waitLine(r, /^enet listening tcp \S+ udp \S+ http 127\.0\.0\.1:(\d+)$/, 30_000)
    const res = await fetch(`http://127.0.0.1:${m[1]}/metrics`)
    expect(res.status).toBe(200)
    expect(await res.text()).toMatch(/^enet_connections\{protocol="tcp"\} 0$/m)
    r.child.kill('SIGTERM')
    expect((await r.exit).code).toBe(0)
  }, 40_000)

  it.concurrent('--http on a non-loopback address without ENET_HTTP_TOKEN: exit code 2 and one line naming http.token', async () => {
    const w = await workdir(`export default {}\n`)
    const r = run(['start', '--config', w.config, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--http', '0.0.0.0:0', '--no-watch', '--plugins', w.plugins], w.dir)
    expect((await r.exit).code).toBe(2)
    expect(errorLines(r.stderr)).toEqual([expect.stringMatching(/^enet: invalid config: .*http\.token: required when http\.host "0\.0\.0\.0" is not a loopback address/)])
  })

  it.concurrent.each([
    ['an unknown flag', ['--bogus'], /--bogus/],
    ['a bad --tcp', ['--tcp', 'nowhere'], /--tcp.*HOST:PORT/],
    ['a bad --heartbeat', ['--heartbeat', 'often'], /--heartbeat: expected milliseconds/],
    ['a --heartbeat below the minimum', ['--heartbeat', '5', '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0'], /heartbeat\.intervalMs/],
    ['a bad --log-level', ['--log-level', 'loud', '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0'], /log\.level/],
  ])('%s: exit code 2 and exactly one stderr line', async (_what, flags, re) => {
    const w = await workdir(`export default {}\n`)
    const r = run(['start', '--config', w.config, '--no-watch', '--plugins', w.plugins, ...flags], w.dir)
    expect((await r.exit).code).toBe(2)
    const lines = errorLines(r.stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(re)
    expect(r.stdout).not.toMatch(/enet listening/)
  })

  it.concurrent('--heartbeat MS turns the connection heartbeat checker on: a silent peer is pinged with msgId 99999, then closed', async () => {
    const w = await workdir(`export default {}\n`)
    const r = run(['start', '--config', w.config, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--no-watch', '--plugins', w.plugins, '--heartbeat', '50'], w.dir)
    const m = await waitLine(r, /^enet listening tcp 127\.0\.0\.1:(\d+)/, 30_000)
    const c = await FrameClient.connect(Number(m[1]))
    try {
      await c.waitClosed(10_000)
      // Default misses: 2 pings, then the close.
      expect(c.frames.map((f) => f.msgId)).toEqual([99999, 99999])
      expect(c.frames[0]!.text).toMatch(/^heartbeat \[127\.0\.0\.1:\d+->127\.0\.0\.1:\d+\]$/)
    } finally {
      c.close()
      r.child.kill('SIGTERM')
      await r.exit
    }
  }, 45_000)

  it.concurrent('--heartbeat 0 turns off a checker the config file turns on', async () => {
    // On, the checker would take msgId 7 (its pingMsgId) silently; off, it is an unknown msgId and answered with 98.
    const w = await workdir(`export default { heartbeat: { pingMsgId: 7 }, unknownMsgReplyId: 98 }\n`)
    const r = run(['start', '--config', w.config, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--no-watch', '--plugins', w.plugins, '--heartbeat', '0'], w.dir)
    const m = await waitLine(r, /^enet listening tcp 127\.0\.0\.1:(\d+)/, 30_000)
    const c = await FrameClient.connect(Number(m[1]))
    try {
      expect(await c.request(7, 'ping?', 5_000)).toMatchObject({ msgId: 98, text: 'unknown msgId 7' })
    } finally {
      c.close()
      r.child.kill('SIGTERM')
      await r.exit
    }
  }, 45_000)

  it.concurrent('a port in use: exit code 2 and one line naming it, no stack', async () => {
    const taken = net.createServer()
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r))
    try {
      const port = (taken.address() as net.AddressInfo).port
      const w = await workdir(`export default {}\n`)
      const r = run(['start', '--config', w.config, '--tcp', `127.0.0.1:${port}`, '--udp', '127.0.0.1:0', '--no-watch', '--plugins', w.plugins], w.dir)
      expect((await r.exit).code).toBe(2)
      expect(errorLines(r.stderr)).toEqual([`enet: cannot listen: tcp.host/port 127.0.0.1:${port}: EADDRINUSE`])
    } finally {
      taken.close()
    }
  })

  it.concurrent('a bad config value: exit code 2 and one line naming the key', async () => {
    const w = await workdir(`import { defineConfig } from 'enet'\nexport default defineConfig({ limits: { maxConn: 'many' as never } })\n`)
    const r = run(['start', '--config', w.config, '--tcp', '127.0.0.1:0', '--udp', '127.0.0.1:0', '--no-watch', '--plugins', w.plugins], w.dir)
    expect((await r.exit).code).toBe(2)
    const lines = errorLines(r.stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^enet: .*enet\.config\.ts.*limits\.maxConn.*expected number/)
  })

  it.concurrent('an unknown config key: exit code 2 and one line naming it', async () => {
    const w = await workdir(`export default { tcp: { prot: 1 } }\n`)
    const r = run(['start', '--config', w.config, '--no-watch', '--plugins', w.plugins], w.dir)
    expect((await r.exit).code).toBe(2)
    const lines = errorLines(r.stderr)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/tcp.*"prot"/)
  })
})
