// Node authentication: sign/verify and the replay cache as units; then over
// real sockets with a secret on, beats and locate answers that are unsigned,
// forged, replayed or skewed are refused and counted, signed ones work end to
// end, and the demo runs authenticated.
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseSigned, ReplayCache, signMessage, verifyMessage } from '../../plugins/heartbeat/auth.ts'
import type { Client } from '../../core/client/index.ts'
import { startProducer } from '../../examples/producer.ts'
import type { HeartbeatApi } from '../../plugins/heartbeat/index.ts'
import type { LocatorApi } from '../../plugins/locator/index.ts'
import { LEVEL } from '../helpers/logs.ts'
import { UdpClient } from '../helpers/udp.ts'
import { until } from '../helpers/until.ts'
import { useBundled, type Bundled } from './bundled.ts'

const SECRET = 'correct horse battery staple'
const b = useBundled()
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

describe('signMessage / verifyMessage', () => {
  const now = 1_700_000_000_000
  const opts = (extra: object = {}) => ({ maxSkewMs: 30_000, replay: new ReplayCache(), now, ...extra })

  it('the wire format is body \\n ts \\n hex(HMAC(secret, msgId \\n queryId \\n ts \\n body)), as docs/auth.md shows', () => {
    const signed = signMessage(SECRET, 10, '127.0.0.1:12345', { ts: now })
    const tag = createHmac('sha256', SECRET).update(`10\n\n${now}\n127.0.0.1:12345`).digest('hex')
    expect(signed.toString()).toBe(`127.0.0.1:12345\n${now}\n${tag}`)
    const md = readFileSync(new URL('../../docs/auth.md', import.meta.url), 'utf8')
    expect(md).toContain(`127.0.0.1:12345\\n${now}\\n${tag}`)
    const answer = signMessage(SECRET, 21, 'movie.mp4\n127.0.0.1:12345', { ts: now + 250, queryId: '9f86d081884c7d65' })
    expect(md).toContain(answer.toString().replace(/\n/g, '\\n'))
  })

  it('a good message verifies, with its body and timestamp; a body may hold newlines', () => {
    expect(verifyMessage(SECRET, 10, signMessage(SECRET, 10, 'a:1', { ts: now }), opts())).toEqual({ ok: true, body: Buffer.from('a:1'), ts: now })
    const answer = signMessage(SECRET, 21, 'foo\na:1', { ts: now, queryId: 'q1' })
    expect(verifyMessage(SECRET, 21, answer, opts({ queryId: 'q1' }))).toMatchObject({ ok: true, body: Buffer.from('foo\na:1') })
  })

  it('bad tag: another secret, another msgId, another query id, a tampered body or timestamp', () => {
    const signed = signMessage(SECRET, 21, 'foo\na:1', { ts: now, queryId: 'q1' })
    const bad = { ok: false, reason: 'bad-tag' }
    expect(verifyMessage('another secret entirely', 21, signed, opts({ queryId: 'q1' }))).toEqual(bad)
    expect(verifyMessage(SECRET, 10, signed, opts({ queryId: 'q1' }))).toEqual(bad)
    expect(verifyMessage(SECRET, 21, signed, opts({ queryId: 'q2' }))).toEqual(bad)
    expect(verifyMessage(SECRET, 21, signed, opts())).toEqual(bad)
    const body = Buffer.from(signed)
    body[0] = 'g'.charCodeAt(0)
    expect(verifyMessage(SECRET, 21, body, opts({ queryId: 'q1' }))).toEqual(bad)
    const ts = Buffer.from(signed.toString().replace(`\n${now}\n`, `\n${now + 1}\n`))
    expect(verifyMessage(SECRET, 21, ts, opts({ queryId: 'q1' }))).toEqual(bad)
  })

  it('replay: the same bytes a second time are refused; another message is not', () => {
    const o = opts()
    const signed = signMessage(SECRET, 10, 'a:1', { ts: now })
    expect(verifyMessage(SECRET, 10, signed, o).ok).toBe(true)
    expect(verifyMessage(SECRET, 10, signed, o)).toEqual({ ok: false, reason: 'replay' })
    expect(verifyMessage(SECRET, 10, signMessage(SECRET, 10, 'a:1', { ts: now + 1 }), o).ok).toBe(true)
  })

  it('skew: a timestamp beyond maxSkewMs in the past or the future is refused; at the bound it passes', () => {
    const at = (ts: number) => verifyMessage(SECRET, 10, signMessage(SECRET, 10, 'a:1', { ts }), opts())
    expect(at(now - 30_001)).toEqual({ ok: false, reason: 'skew' })
    expect(at(now + 30_001)).toEqual({ ok: false, reason: 'skew' })
    expect(at(now - 30_000).ok).toBe(true)
    expect(at(now + 30_000).ok).toBe(true)
  })

  it('malformed: unsigned text, missing parts, a non-canonical timestamp or tag', () => {
    const tag = signMessage(SECRET, 10, 'a:1', { ts: now }).subarray(-64).toString()
    const cases = ['', 'a:1', '127.0.0.1:12345', `a:1\n${now}`, `a:1\n${tag}`, `${now}\n${tag}`.slice(1), `a:1\n0${now}\n${tag}`, `a:1\nx${now}\n${tag}`, `a:1\n\n${tag}`, `a:1\n${now}\n${tag.toUpperCase()}`, `a:1\n${now}\n${tag}0`, `a:1\n${now}\n${tag.slice(1)}`]
    for (const c of cases) expect(verifyMessage(SECRET, 10, Buffer.from(c), opts()), JSON.stringify(c)).toEqual({ ok: false, reason: 'malformed' })
    expect(parseSigned(Buffer.from(`\n${now}\n${tag}`))).toMatchObject({ body: Buffer.alloc(0), ts: now })
  })

  it('the replay cache is bounded (oldest forgotten) and drops entries once past their window', () => {
    const tag = (i: number) => createHmac('sha256', 'k').update(String(i)).digest()
    const cache = new ReplayCache(3)
    for (let i = 0; i < 4; i++) expect(cache.add(tag(i), now + 1_000, now)).toBe(true)
    expect(cache.size).toBe(3)
    expect(cache.add(tag(3), now + 1_000, now)).toBe(false)
    // tag 0 was the oldest: forgotten to make room.
    expect(cache.add(tag(0), now + 1_000, now)).toBe(true)
    const timed = new ReplayCache()
    timed.add(tag(1), now + 10, now)
    timed.add(tag(2), now + 20, now)
    expect(timed.add(tag(3), now + 100, now + 15)).toBe(true)
    expect(timed.size).toBe(2)
    expect(timed.add(tag(2), now + 20, now + 15)).toBe(false)
    expect(() => new ReplayCache(0)).toThrow(/maxEntries must be a positive integer, got 0/)
  })
})

const heartbeat = (p: Bundled) => p.app.plugins.api<HeartbeatApi>('heartbeat')!
const locator = (p: Bundled) => p.app.plugins.api<LocatorApi>('locator')!

async function rawUdp(p: Bundled) {
  const c = await UdpClient.open(p.udpPort)
  b.onCleanup(() => c.close())
  return c
}

async function list(c: Client): Promise<string> {
  return (await c.request(11, '', { replyId: 10 })).data.toString()
}

describe('heartbeat with a secret', () => {
  it('a signed beat registers its body; an unsigned one (the Go demo bytes) does not, and is counted and logged', async () => {
    const p = await b.start({ heartbeat: { secret: SECRET } })
    const c = await rawUdp(p)
    const tcp = await p.client('tcp')
    await c.sendRaw(Buffer.concat([hex('0000000a'), Buffer.from('127.0.0.1:12345')]))
    await until(() => heartbeat(p).stats().authFailed.malformed === 1)
    await c.send(10, signMessage(SECRET, 10, '127.0.0.1:12346'))
    await until(() => heartbeat(p).size === 1)
    expect(await list(tcp)).toBe('127.0.0.1:12346 ')
    expect(p.logs.find('heartbeat dropped: authentication failed', LEVEL.warn)).toEqual([expect.objectContaining({ plugin: 'heartbeat', reason: 'malformed', authFailed: 1 })])
    expect(heartbeat(p).stats()).toMatchObject({ registered: 1, bad: 0, authFailed: { 'bad-tag': 0, replay: 0, skew: 0, malformed: 1 } })
  })

  it('a forged tag, a replayed datagram and a skewed timestamp are refused; the replay cache survives a reload', async () => {
    const p = await b.start({ heartbeat: { secret: SECRET, maxSkewMs: 1_000 } })
    const c = await rawUdp(p)
    const tcp = await p.client('tcp')
    const stats = () => heartbeat(p).stats().authFailed
    await c.send(10, signMessage('not the secret, but long', 10, '127.0.0.1:1'))
    await until(() => stats()['bad-tag'] === 1)
    await c.send(10, signMessage(SECRET, 10, '127.0.0.1:2', { ts: Date.now() - 5_000 }))
    await c.send(10, signMessage(SECRET, 10, '127.0.0.1:3', { ts: Date.now() + 5_000 }))
    await until(() => stats().skew === 2)
    const beat = signMessage(SECRET, 10, '127.0.0.1:4')
    await c.send(10, beat)
    await c.send(10, beat)
    await until(() => stats().replay === 1)
    await p.app.plugins.reload('heartbeat')
    await c.send(10, beat)
    await until(() => stats().replay === 2)
    expect(await list(tcp)).toBe('127.0.0.1:4 ')
    expect(heartbeat(p).stats()).toMatchObject({ registered: 1, refreshed: 0 })
  })

  it('a secret shorter than 16 characters is refused at load, with what was given', async () => {
    await expect(b.start({ heartbeat: { secret: 'short' } })).rejects.toThrow(/secret must be a string of at least 16 characters.*got 5 characters/)
  })
})

describe('locate with a secret', () => {
  it('end to end with signed producers (UDP and TCP beats): found, and not found', async () => {
    const p = await b.start({ heartbeat: { secret: SECRET }, locator: { timeoutMs: 300 } })
    const holder = await startProducer({ server: `127.0.0.1:${p.udpPort}`, resources: ['foo'], secret: SECRET, intervalMs: 5_000 })
    b.onCleanup(() => holder.stop())
    const other = await startProducer({ server: `127.0.0.1:${p.tcpPort}`, transport: 'tcp', resources: ['bar'], secret: SECRET, intervalMs: 5_000 })
    b.onCleanup(() => other.stop())
    const c = await p.client('tcp')
    await until(() => heartbeat(p).size === 2)
    expect((await c.request(20, 'foo')).data.toString()).toBe(holder.node)
    expect((await c.request(20, 'bar')).data.toString()).toBe(other.node)
    expect((await c.request(20, 'baz')).data.toString()).toBe('没有找到')
    expect(locator(p).stats()).toMatchObject({ found: 2, notFound: 1, authFailed: { 'bad-tag': 0, replay: 0, skew: 0, malformed: 0 } })
  })

  it('the query carries a query id; unsigned, forged and wrongly bound answers are dropped and counted; a replayed answer does not fit the next query', async () => {
    const p = await b.start({ heartbeat: { secret: SECRET } })
    const node = await rawUdp(p)
    await node.send(10, signMessage(SECRET, 10, '127.0.0.1:7002'))
    await until(() => heartbeat(p).size === 1)
    const c = await p.client('tcp')
    const answer = c.request(20, 'foo')
    await node.waitFrames(1)
    const [name, qid] = node.frames[0]!.text.split('\n')
    expect(name).toBe('foo')
    expect(qid).toMatch(/^[0-9a-f]{16}$/)
    const body = 'foo\n127.0.0.1:7002'
    await node.send(21, body)
    await node.send(21, signMessage('not the secret, but long', 21, body, { queryId: qid }))
    await node.send(21, signMessage(SECRET, 21, body, { queryId: 'another query' }))
    await node.send(21, signMessage(SECRET, 21, body))
    await node.send(21, signMessage(SECRET, 10, body, { queryId: qid }))
    await until(() => locator(p).stats().authFailed['bad-tag'] === 4)
    expect(locator(p).stats()).toMatchObject({ found: 0, authFailed: { malformed: 1 } })
    const good = signMessage(SECRET, 21, body, { queryId: qid })
    await node.send(21, good)
    expect((await answer).data.toString()).toBe('127.0.0.1:7002')
    expect(p.logs.find('locate answer dropped: authentication failed', LEVEL.warn).map((l) => l.reason)).toEqual(['malformed', 'bad-tag', 'bad-tag', 'bad-tag', 'bad-tag'])

    // The same answer again, to the next locate of "foo": its query has a new id.
    const again = c.request(20, 'foo')
    await node.waitFrames(2)
    expect(node.frames[1]!.text).not.toBe(node.frames[0]!.text)
    await node.send(21, good)
    await until(() => locator(p).stats().authFailed['bad-tag'] === 5)
    await node.send(21, signMessage(SECRET, 21, body, { queryId: node.frames[1]!.text.split('\n')[1] }))
    expect((await again).data.toString()).toBe('127.0.0.1:7002')
  })
})

describe('with the secret off', () => {
  it('nothing changes: the query is the bare name, plain answers and beats work, and a signed beat is a bad payload', async () => {
    const p = await b.start()
    expect(heartbeat(p).auth).toBeNull()
    const node = await rawUdp(p)
    await node.send(10, '127.0.0.1:7003')
    await until(() => heartbeat(p).size === 1)
    const c = await p.client('tcp')
    const answer = c.request(20, 'foo')
    await node.waitFrames(1)
    expect(node.frames[0]!.text).toBe('foo')
    await node.send(21, 'foo\n127.0.0.1:7003')
    expect((await answer).data.toString()).toBe('127.0.0.1:7003')
    await node.send(10, signMessage(SECRET, 10, '127.0.0.1:7004'))
    await until(() => heartbeat(p).stats().bad === 1)
    expect(heartbeat(p).stats().authFailed).toEqual({ 'bad-tag': 0, replay: 0, skew: 0, malformed: 0 })
  })
})

describe('demo', () => {
  it('examples/demo.ts --secret: signed producers are found, the forged beat is refused; exits 0', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url))
    const child = spawn(process.execPath, ['bin/run.mjs', 'examples/demo.ts', '--secret', SECRET], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
    clearTimeout(timer)
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(stdout).toContain('nodes authenticate (HMAC)')
    expect(stdout).toMatch(/forger\s+beats "127\.0\.0\.1:9" unsigned/)
    expect(stdout).toContain('warning: heartbeat dropped: authentication failed (malformed)')
    expect(stdout).toMatch(/where is "movie\.mp4"\? 127\.0\.0\.1:\d+\n/)
    expect(stdout.trim().split('\n').at(-1)).toMatch(/done: every step went as expected/)
  }, 90_000)
})
