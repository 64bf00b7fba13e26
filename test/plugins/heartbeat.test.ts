// The heartbeat plugin over real sockets: the Go enet wire format byte for
// byte, expiry at the TTL (not 2×), bounds, bad payloads, and a reload that
// keeps every node and moves the expiry timer to the new version.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { UdpClient } from '../helpers/udp.ts'
import { FrameClient } from '../helpers/frames.ts'
import { LEVEL } from '../helpers/logs.ts'
import { referenceTimer, until } from '../helpers/until.ts'
import { useBundled } from './bundled.ts'
import { GoConsumer } from '../helpers/go-demo.ts'
import { listAllNodes, listPage } from '../../examples/consumer.ts'
import type { Client } from '../../core/client/index.ts'
import type { HeartbeatApi } from '../../plugins/heartbeat/index.ts'

const b = useBundled()
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')

/** The list's pages as raw text, page:0 up to the first empty one. */
async function listPages(c: Client, max: number): Promise<string[]> {
  const pages: string[] = []
  for (let page = 0; page < max; page++) {
    const nodes = await listPage(c, page)
    if (nodes.length === 0) break
    pages.push(nodes.join(' ') + ' ')
  }
  return pages
}

/** A raw UDP socket that keeps the exact bytes of every datagram it receives. */
async function rawUdp(port: number) {
  const c = await UdpClient.open(port)
  b.onCleanup(() => c.close())
  const raw: Buffer[] = []
  c.socket.on('message', (m) => void raw.push(m))
  return { c, raw, next: async (n: number) => (await c.waitFrames(n), raw[n - 1]!) }
}

describe('heartbeat wire format (Go enet compatible)', () => {
  it('00 00 00 0a + host:port registers; 00 00 00 0b is answered with 00 00 00 0a + the node and a space', async () => {
    const p = await b.start()
    const { c, next } = await rawUdp(p.udpPort)
    await c.sendRaw(hex('0000000b'))
    expect(await next(1)).toEqual(hex('0000000a'))
    await c.sendRaw(Buffer.concat([hex('0000000a'), Buffer.from('127.0.0.1:12345')]))
    await c.sendRaw(hex('0000000b'))
    expect((await next(2)).toString('hex')).toBe(Buffer.concat([hex('0000000a'), Buffer.from('127.0.0.1:12345 ')]).toString('hex'))
  })

  it('over TCP tlv-be: list is a frame with msgId 10, each node followed by a space; replyId is an option', async () => {
    const p = await b.start({ heartbeat: { replyId: 12 } })
    const c = await FrameClient.connect(p.tcpPort)
    b.onCleanup(() => c.close())
    c.write(hex('0000000a 0000000f 3132372e302e302e313a3132333435'))
    c.send(10, 'node.example:80')
    const reply = await c.request(11, '')
    expect(reply).toMatchObject({ msgId: 12, text: '127.0.0.1:12345 node.example:80 ' })
  })
})

describe('expiry', () => {
  it('a silent node expires after the TTL, not 2×; a beating one stays; one log line each', async () => {
    const ttl = 300
    const p = await b.start({ heartbeat: { ttlMs: ttl } })
    const c = await p.client('udp')
    const announced: Array<[string, unknown]> = []
    p.app.server.hooks.onPluginMessage.tap('test', (topic, payload) => void announced.push([topic, payload]))
    let lastA = 0
    let refA = referenceTimer(ttl)
    const beatA = () => {
      lastA = performance.now()
      refA = referenceTimer(ttl)
      c.send(10, '127.0.0.1:1001')
    }
    beatA()
    // The producer's behaviour: beat every 50 ms (the test waits on the expiry, not on this).
    const timer = setInterval(beatA, 50)
    const tB = performance.now()
    const refB = referenceTimer(ttl)
    c.send(10, '127.0.0.1:1002')
    expect((await c.request(11, '', { replyId: 10 })).data.toString()).toContain('127.0.0.1:1002 ')

    await until(() => p.logs.find('node expired').length >= 1, 3 * ttl, 'B expired')
    const bGone = performance.now() - tB
    clearInterval(timer)
    expect(bGone).toBeGreaterThanOrEqual(ttl)
    // On time: within half a TTL of a timer set for the same deadline in this process.
    expect(bGone).toBeLessThan((await refB) + 0.5 * ttl)
    expect(p.logs.find('node expired')).toHaveLength(1)
    expect(p.logs.find('node expired')[0]).toMatchObject({ level: LEVEL.info, plugin: 'heartbeat', node: '127.0.0.1:1002', ttlMs: ttl })
    expect((await c.request(11, '', { replyId: 10 })).data.toString()).toBe('127.0.0.1:1001 ')
    expect(announced).toEqual([['heartbeat:expired', expect.objectContaining({ node: '127.0.0.1:1002' })]])

    const stoppedAt = lastA
    const refStopped = refA
    await until(() => p.logs.find('node expired').length >= 2, 3 * ttl, 'A expired')
    const aGone = performance.now() - stoppedAt
    expect(aGone).toBeGreaterThanOrEqual(ttl - 1)
    expect(aGone).toBeLessThan((await refStopped) + 0.5 * ttl)
    expect((await c.request(11, '', { replyId: 10 })).data.toString()).toBe('')
  })
})

describe('bounds and bad input', () => {
  it('bad host:port payloads are dropped, counted and logged; the server carries on', async () => {
    const p = await b.start()
    const { c, next } = await rawUdp(p.udpPort)
    const bad = ['', 'localhost', '127.0.0.1:0', '127.0.0.1:65536', 'a b:1', ':80', 'host:-1', 'x'.repeat(300) + ':1', '127.0.0.1:1 ', '[:::::]:1', '[....]:9', 'a..b:1', '999.999.999.999:1']
    for (const text of bad) await c.send(10, text)
    await c.sendRaw(hex('0000000a')) // a register with no data at all
    await c.send(10, '[::1]:6430')
    await c.send(11)
    expect((await next(1)).subarray(4).toString()).toBe('[::1]:6430 ')
    const lines = p.logs.find('bad heartbeat payload dropped', LEVEL.warn)
    // Rate-limited: 5 lines a second per reason, the count in each.
    expect(lines.length).toBe(5)
    expect(lines.at(-1)).toMatchObject({ plugin: 'heartbeat', bad: 5 })
  })

  it('a host is a bracketed IPv6 address, a dotted IPv4 address or DNS labels; anything else is dropped and counted', async () => {
    const p = await b.start()
    const tcp = await p.client('tcp')
    const good = ['127.0.0.1:1', 'node.example:80', '[::1]:6430', 'node-001.example:6000', 'a:1', '[::ffff:10.0.0.1]:2', '[2001:db8::7]:3', '1a.2.3.4:5', `${'x'.repeat(63)}.example:6`]
    const bad = ['[:::::]:1', '[....]:9', '[1.2.3.4]:5', '[fe80::1%eth0]:1', '[]:1', '[::1:1', 'a..b:1', '.a:1', 'a.:1', '-a:1', 'a-:1', 'a.-b.c:1', 'a_b:1', `${'x'.repeat(64)}.example:1`, `${'abcdefghi.'.repeat(25)}abcd:1`, '999.999.999.999:1', '1.2.3:4', '01.2.3.4:5', '123:80', '1.2.3.4.5:6']
    for (const text of [...bad, ...good]) tcp.send(10, text)
    expect((await tcp.request(11, '', { replyId: 10 })).data.toString()).toBe(good.join(' ') + ' ')
    expect(p.app.plugins.api<HeartbeatApi>('heartbeat')!.stats()).toMatchObject({ registered: good.length, bad: bad.length })
  })

  it('over UDP the node list fits one datagram: paged by node with page:N, a plain 11 gets page 0', async () => {
    const p = await b.start()
    const tcp = await p.client('tcp')
    const all = Array.from({ length: 150 }, (_, i) => `node-${String(i).padStart(3, '0')}.example:${6000 + i}`)
    for (const n of all) tcp.send(10, n)
    expect((await tcp.request(11, '', { replyId: 10 })).data.toString()).toBe(all.join(' ') + ' ')
    const udp = await p.client('udp')
    const pages = await listPages(udp, 20)
    for (const text of pages) {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1_020)
      expect(text.endsWith(' ')).toBe(true)
    }
    expect(pages.length).toBeGreaterThan(1)
    expect(pages.join('')).toBe(all.join(' ') + ' ')
    expect(await listAllNodes(udp)).toEqual(all)
    // Whatever a Go consumer puts in its 11 that is not page:N means page 0.
    expect((await udp.request(11, 'list please', { replyId: 10 })).data.toString()).toBe(pages[0])
  })

  it("the default UDP page fits the Go consumer's 1024-byte read with its 4-byte header and ends at a node", async () => {
    const p = await b.start()
    const tcp = await p.client('tcp')
    // ~70 nodes of 16 bytes each: 1,120 bytes, which the 1200-byte default sent whole and the Go read cut at `127.0.0.1:18`.
    const all = Array.from({ length: 70 }, (_, i) => `127.0.0.1:${18_000 + i}`)
    for (const n of all) tcp.send(10, n)
    await tcp.request(11, '', { replyId: 10 })
    const go = await GoConsumer.open(p.udpPort)
    b.onCleanup(() => go.close())
    const first = await go.request(11, '让我访问!!!')
    expect(first.msgId).toBe(10)
    expect(first.datagramBytes).toBeLessThanOrEqual(1_024)
    expect(first.text.endsWith(' ')).toBe(true)
    const shown = first.text.split(' ').filter(Boolean)
    expect(shown).toEqual(all.slice(0, shown.length))
    expect(shown.length).toBe(Math.floor(1_020 / 16))
    // enet's own clients get the rest with page:N.
    const udp = await p.client('udp')
    expect(await listAllNodes(udp)).toEqual(all)
  })

  it('msgId 11 data that a Go consumer may send, digits included, gets page 0; only page:N picks a page', async () => {
    const p = await b.start({ heartbeat: { udpListBytes: 300 } })
    const tcp = await p.client('tcp')
    const all = Array.from({ length: 60 }, (_, i) => `127.0.0.1:${18_000 + i}`)
    for (const n of all) tcp.send(10, n)
    await tcp.request(11, '', { replyId: 10 })
    const go = await GoConsumer.open(p.udpPort)
    b.onCleanup(() => go.close())
    const page0 = (await go.request(11, '')).text
    expect(page0.startsWith('127.0.0.1:18000 ')).toBe(true)
    for (const data of ['1', '2', '123', ' 1', 'page:', 'page:x', 'page:1 ', 'PAGE:1', 'page:1234567', '让我访问!!!']) {
      expect((await go.request(11, data)).text, JSON.stringify(data)).toBe(page0)
    }
    const page1 = (await go.request(11, 'page:1')).text
    expect(page1).not.toBe(page0)
    expect(page1.startsWith(all[page0.split(' ').filter(Boolean).length] + ' ')).toBe(true)
    expect((await go.request(11, 'page:999')).text).toBe('')
  })

  it('over TCP the node list is paged too, at tcpListBytes', async () => {
    const p = await b.start({ heartbeat: { tcpListBytes: 1_000 } })
    const tcp = await p.client('tcp')
    const all = Array.from({ length: 100 }, (_, i) => `node-${String(i).padStart(3, '0')}.example:${6000 + i}`)
    for (const n of all) tcp.send(10, n)
    const pages: string[] = []
    for (let page = 0; page < 10; page++) {
      const text = (await tcp.request(11, page === 0 ? '' : `page:${page}`, { replyId: 10 })).data.toString()
      if (text === '') break
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(1_000)
      pages.push(text)
    }
    expect(pages.length).toBe(3)
    expect(pages.join('')).toBe(all.join(' ') + ' ')
  })

  it('refuses list sizes smaller than the longest node name, naming the option', async () => {
    await expect(b.start({ heartbeat: { udpListBytes: 100 } })).rejects.toThrow(/heartbeat: udpListBytes must be an integer ≥ 263, got 100/)
  })

  it('beyond maxNodes a new node is refused and counted; known nodes still refresh', async () => {
    const p = await b.start({ heartbeat: { maxNodes: 2 } })
    const c = await p.client('tcp')
    c.send(10, 'a:1')
    c.send(10, 'b:2')
    c.send(10, 'c:3')
    c.send(10, 'a:1')
    expect((await c.request(11, '', { replyId: 10 })).data.toString()).toBe('b:2 a:1 ')
    expect(p.logs.find('node refused', LEVEL.warn)).toEqual([expect.objectContaining({ node: 'c:3', maxNodes: 2, refused: 1 })])
  })
})

describe('per-source share of the registry', () => {
  it('one source (an IP, or every address of an IPv6 /64) registers at most maxNodesPerSource; other sources still register', async () => {
    const p = await b.start({ heartbeat: { maxNodes: 10, maxNodesPerSource: 3 } })
    const beat = (node: string, address: string) => p.app.server.inject({ msgId: 10, data: node, protocol: 'udp', remote: { address, port: 7000, family: address.includes(':') ? 'IPv6' : 'IPv4' } })
    for (let i = 0; i < 8; i++) await beat(`10.0.0.1:${7000 + i}`, '203.0.113.7')
    for (let i = 0; i < 8; i++) await beat(`10.0.1.1:${7000 + i}`, `2001:db8:1:2::${i + 1}`)
    await beat('10.0.2.1:7000', '198.51.100.1')
    const live = p.app.plugins.api<HeartbeatApi>('heartbeat')!.nodes().map((n) => n.node)
    expect(live).toEqual(['10.0.0.1:7000', '10.0.0.1:7001', '10.0.0.1:7002', '10.0.1.1:7000', '10.0.1.1:7001', '10.0.1.1:7002', '10.0.2.1:7000'])
    expect(p.app.plugins.api<HeartbeatApi>('heartbeat')!.stats()).toMatchObject({ refusedSource: 10, refused: 0 })
    // A refresh from the full source is not a new slot.
    await beat('10.0.0.1:7000', '203.0.113.7')
    expect(p.app.plugins.api<HeartbeatApi>('heartbeat')!.stats()).toMatchObject({ refreshed: 1, refusedSource: 10 })
  })
})

describe('reload', () => {
  it('keeps every node; the new version takes over the expiry timer and the old one is gone', async () => {
    const ttl = 400
    const p = await b.start({ heartbeat: { ttlMs: ttl } })
    const c = await p.client('udp')
    const t0 = performance.now()
    const ref = referenceTimer(ttl)
    c.send(10, '127.0.0.1:2001')
    c.send(10, '127.0.0.1:2002')
    expect((await c.request(11, '', { replyId: 10 })).data.toString()).toBe('127.0.0.1:2001 127.0.0.1:2002 ')

    expect(await p.app.plugins.reload('heartbeat')).toMatchObject({ version: 2, status: 'active' })
    await p.app.plugins.settled()
    expect((await c.request(11, '', { replyId: 10 })).data.toString()).toBe('127.0.0.1:2001 127.0.0.1:2002 ')
    expect(p.logs.find('registry carried over')[0]).toMatchObject({ version: 2, nodes: 2 })

    await until(() => p.logs.find('node expired').length >= 2, 3 * ttl, 'both expired')
    const gone = performance.now() - t0
    expect(gone).toBeGreaterThanOrEqual(ttl)
    expect(gone).toBeLessThan((await ref) + 0.5 * ttl)
    // Logged by version 2 only: version 1's timer (armed for the same deadline) was cleared on dispose.
    expect(p.logs.find('node expired').map((l) => [l.node, l.version])).toEqual([
      ['127.0.0.1:2001', 2],
      ['127.0.0.1:2002', 2],
    ])
    expect((await c.request(11, '', { replyId: 10 })).data.toString()).toBe('')
  })
})

describe('docs/protocol.md', () => {
  it('the fourth plugin of the docs loads, counts live nodes and announces expiry to TCP clients', async () => {
    const md = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
    const src = /```ts\n(\/\/ plugins\/presence\/index\.ts\n[\s\S]*?)```/.exec(md)![1]!
    // In a temp project the heartbeat folder is elsewhere; the import is type-only, erased on load.
    const p = await b.start({ heartbeat: { ttlMs: 200 } }, { 'plugins/presence/index.ts': src })
    const c = await p.client('tcp')
    const expired = new Promise<string>((resolve) => c.on('message', (m) => m.msgId === 41 && resolve(m.data.toString())))
    c.send(10, 'node.example:1')
    expect((await c.request(40, '')).data.toString()).toBe('1')
    expect(await expired).toBe('node.example:1')
  })
})
