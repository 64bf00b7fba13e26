// A real redis-server for a test: a free loopback port, no persistence,
// stopped (and restartable empty) by the test. A missing binary fails loudly.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import net from 'node:net'

export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Stop it (SIGTERM) and wait for the exit. */
  stop(): Promise<void>
  /** Start it again on the same port, empty. */
  restart(): Promise<void>
}

export async function freeTcpPort(): Promise<number> {
  const srv = net.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => srv.close(() => resolve()))
  return port
}

export async function startRedis(): Promise<RedisServer> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) {
    throw new Error(`redis-server is needed by this test and was not found (${probe.error?.message ?? probe.stderr}); install the Debian package redis-server (.ci/run does)`)
  }
  const port = await freeTcpPort()
  let proc: ChildProcess | null = null
  const launch = async () => {
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc = p
    let out = ''
    await new Promise<void>((resolve, reject) => {
      p.stdout!.setEncoding('utf8').on('data', (s: string) => {
        out += s
        if (out.includes('Ready to accept connections')) resolve()
      })
      p.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)))
    })
  }
  await launch()
  const stop = async () => {
    const p = proc
    proc = null
    if (p === null || p.exitCode !== null) return
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGTERM')
    await exited
  }
  return { port, url: `redis://127.0.0.1:${port}/0`, stop, restart: async () => (await stop(), await launch()) }
}
