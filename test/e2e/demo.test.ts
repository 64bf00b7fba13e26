// `npm run demo` end to end as a user runs it (a child process), and the
// example producer and consumer run standalone against a server.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { useBundled } from '../plugins/bundled.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const b = useBundled()

interface Run {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

/** Run `node ARGS` in the repo; resolves when it exits on its own (killed after `timeoutMs`). */
function run(args: string[], timeoutMs: number, onLine?: (line: string) => void): { done: Promise<Run>; kill(): void } {
  const t0 = performance.now()
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let partial = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s
    const lines = (partial + s).split('\n')
    partial = lines.pop()!
    if (onLine) for (const line of lines) onLine(line)
  })
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const done = new Promise<Run>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: performance.now() - t0 })
    }),
  )
  return { done, kill: () => child.kill('SIGTERM') }
}

describe('demo', () => {
  // The kill timers are a backstop, not a measure: a loaded machine may take a while to start.
  it('npm run demo: nodes, where the resource is, expiry, not found; exits 0 by itself', async () => {
    const r = await run(['bin/run.mjs', 'examples/demo.ts'], 60_000).done
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n')
    const find = (re: RegExp) => lines.find((l) => re.test(l))
    const a = /producer\s+(127\.0\.0\.1:\d+): .*holding "movie\.mp4"/.exec(find(/holding "movie\.mp4"/) ?? '')?.[1]
    const bNode = /producer\s+(127\.0\.0\.1:\d+): .*holding nothing/.exec(find(/holding nothing/) ?? '')?.[1]
    expect(a).toBeDefined()
    expect(bNode).toBeDefined()
    const live = lines.filter((l) => /consumer\s+live nodes:/.test(l))
    expect(live[0]).toContain(a!)
    expect(live[0]).toContain(bNode!)
    expect(find(/where is "movie\.mp4"\?/)).toMatch(new RegExp(`where is "movie\\.mp4"\\? ${a!.replace(/\./g, '\\.')}$`))
    expect(find(/where is "song\.mp3"\?/)).toMatch(/没有找到$/)
    expect(find(/\[server\]\s+heartbeat: node .* expired/)).toContain(a!)
    // "live nodes: B  (A gone N ms after it stopped)"
    const [lastNodes, note] = live.at(-1)!.split('  (')
    expect(lastNodes).not.toContain(a!)
    expect(lastNodes).toContain(bNode!)
    expect(note).toMatch(new RegExp(`^${a!.replace(/\./g, '\\.')} gone \\d+ ms after it stopped\\)$`))
    expect(lines.filter((l) => /where is "movie\.mp4"\?/.test(l)).at(-1)).toMatch(/没有找到$/)
    expect(lines.at(-1)).toMatch(/done: every step went as expected/)
  }, 90_000)

  it('examples/producer.ts and examples/consumer.ts run standalone with CLI args', async () => {
    const p = await b.start()
    const server = `127.0.0.1:${p.udpPort}`
    let node = ''
    let ready!: () => void
    const beating = new Promise<void>((r) => (ready = r))
    const producer = run(['bin/run.mjs', 'examples/producer.ts', '--server', server, '--listen', '127.0.0.1:0', '--resource', 'foo', '--interval', '200'], 60_000, (line) => {
      const m = /producer (127\.0\.0\.1:\d+): beating/.exec(line)
      if (m) {
        node = m[1]!
        ready()
      }
    })
    b.onCleanup(async () => {
      producer.kill()
      await producer.done
    })
    await beating
    const consumer = await run(['bin/run.mjs', 'examples/consumer.ts', '--server', server, '--resource', 'foo', '--count', '1'], 60_000).done
    expect(consumer.stderr).toBe('')
    expect(consumer.code).toBe(0)
    expect(consumer.stdout).toContain(`live nodes: ${node}`)
    expect(consumer.stdout).toContain(`"foo": ${node}`)
    producer.kill()
    expect((await producer.done).code).toBe(0)
  }, 90_000)
})
