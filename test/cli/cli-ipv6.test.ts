// `enet start` on ::1 prints its addresses in brackets, so the printed
// `[::1]:PORT` can be pasted into `enet send` as it is.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../../bin/enet.mjs', import.meta.url))
const ENV = { ...process.env, ENET_TCP: '', ENET_UDP: '', ENET_LOG_LEVEL: '' }

let child: ChildProcess | undefined
let dir: string | undefined
afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  child = undefined
  if (dir) await rm(dir, { recursive: true, force: true })
  dir = undefined
})

// The machines this runs on (dev and CI) have an IPv6 loopback; without one this fails at listen.
describe('enet start on [::1]', () => {
  it('prints tcp [::1]:PORT udp [::1]:PORT, and enet send reaches both as printed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'enet-cli6-'))
    await mkdir(join(dir, 'plugins'))
    const config = join(dir, 'enet.config.ts')
    await writeFile(config, `export default { unknownMsgReplyId: 98 }\n`)
    const c = spawn(process.execPath, [BIN, 'start', '--tcp', '[::1]:0', '--udp', '[::1]:0', '--no-watch', '--plugins', join(dir, 'plugins'), '--config', config], {
      cwd: dir,
      env: ENV,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    child = c
    const exit = new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code)))
    let stdout = ''
    let stderr = ''
    c.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const line = await new Promise<string>((resolve, reject) => {
      c.stdout!.setEncoding('utf8').on('data', (s: string) => {
        stdout += s
        const found = stdout.split('\n').find((l) => l.startsWith('enet listening'))
        if (found) resolve(found)
      })
      c.once('exit', (code) => reject(new Error(`exited with ${code} before listening; stderr: ${stderr}`)))
    })
    const m = /^enet listening tcp (\[::1\]:\d+) udp (\[::1\]:\d+)$/.exec(line)
    expect(m, line).not.toBeNull()

    const send = (args: string[]) => promisify(execFile)(process.execPath, [BIN, 'send', ...args], { env: ENV, timeout: 10_000 })
    expect((await send([m![1]!, '777', 'x', '--wait', '--reply-id', '98'])).stdout).toBe('98 unknown msgId 777\n')
    expect((await send(['--udp', m![2]!, '778', 'y', '--wait', '--reply-id', '98'])).stdout).toBe('98 unknown msgId 778\n')

    c.kill('SIGTERM')
    expect(await exit).toBe(0)
  })
})
