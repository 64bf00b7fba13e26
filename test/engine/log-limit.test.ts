// The rate-limited log through a real pino logger, lines parsed: the budget is
// per reason and per source IP, what it suppressed is counted in the next
// window, and the keys it tracks stay bounded. The clock is a variable.
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ipOf, MAX_KEYS, rateLimited, SOURCES_PER_REASON } from '../../core/engine/log-limit.ts'
import { LEVEL, logSink } from '../helpers/logs.ts'

function setup(perSecond = 5) {
  const sink = logSink()
  const clock = { t: 10_000 }
  const rlog = rateLimited(pino({ level: 'info' }, sink), perSecond, () => clock.t)
  const lines = (msg: string) => sink.find(msg)
  return { sink, clock, rlog, lines }
}

const SUMMARY = 'log lines suppressed by rate limit in the last second'

describe('rateLimited', () => {
  it('a flood from one source does not hide the first lines of another source for the same reason', () => {
    const { rlog, lines } = setup()
    for (let i = 0; i < 1_000; i++) rlog.warn('bad-node', { remote: `10.0.0.1:${40_000 + (i % 50)}`, i }, 'bad heartbeat')
    for (let i = 0; i < 3; i++) rlog.warn('bad-node', { remote: `10.0.0.2:5000`, i }, 'bad heartbeat')
    const got = lines('bad heartbeat')
    // Source A's ports rotate, but its budget is its IP's: 5 lines, not 5 per port.
    expect(got.filter((l) => l.remote!.toString().startsWith('10.0.0.1:')).map((l) => l.i)).toEqual([0, 1, 2, 3, 4])
    expect(got.filter((l) => l.remote === '10.0.0.2:5000').map((l) => l.i)).toEqual([0, 1, 2])
    expect(got.every((l) => l.level === LEVEL.warn)).toBe(true)
  })

  it('a host rotating through its IPv6 /64 is one source: one budget, one key per reason', () => {
    const { rlog, lines } = setup()
    for (let i = 0; i < 1_000; i++) rlog.warn('bad-node', { remote: `[2001:db8:1:2::${i.toString(16)}]:7000`, i }, 'bad heartbeat')
    rlog.warn('bad-node', { remote: '[2001:db8:1:3::1]:7000', i: -1 }, 'bad heartbeat')
    expect(lines('bad heartbeat').map((l) => l.i)).toEqual([0, 1, 2, 3, 4, -1])
    expect(rlog.tracked).toBe(2)
  })

  it('the suppressed count, by reason, is written once the next window begins; then the budget is back', () => {
    const { rlog, lines, clock } = setup()
    for (let i = 0; i < 12; i++) rlog.warn('unknown-msgid', { remote: '10.0.0.1:1', i }, 'unknown msgId dropped')
    for (let i = 0; i < 7; i++) rlog.info('registered', { from: 'udp://[::1]:7000', i }, 'node registered')
    clock.t += 999
    rlog.warn('unknown-msgid', { remote: '10.0.0.1:1', i: 12 }, 'unknown msgId dropped')
    expect(lines(SUMMARY)).toEqual([])
    clock.t += 1
    rlog.warn('unknown-msgid', { remote: '10.0.0.1:1', i: 13 }, 'unknown msgId dropped')
    expect(lines(SUMMARY)).toEqual([expect.objectContaining({ level: LEVEL.warn, suppressed: 10, reasons: { 'unknown-msgid': 8, registered: 2 }, sources: 2 })])
    expect(lines('unknown msgId dropped').map((l) => l.i)).toEqual([0, 1, 2, 3, 4, 13])
    expect(lines('node registered').map((l) => l.i)).toEqual([0, 1, 2, 3, 4])
    // Nothing suppressed in a window: no summary after it.
    clock.t += 1_000
    rlog.warn('unknown-msgid', { remote: '10.0.0.1:1', i: 14 }, 'unknown msgId dropped')
    expect(lines(SUMMARY)).toHaveLength(1)
  })

  it('a line without a source shares one budget per reason', () => {
    const { rlog, lines } = setup(3)
    for (let i = 0; i < 5; i++) rlog.warn('frame-timeout', { conn: i }, 'frame timeout')
    for (let i = 0; i < 5; i++) rlog.warn('frame-timeout', { conn: 100 + i, remote: `10.0.0.${i}:1` }, 'frame timeout')
    expect(lines('frame timeout').map((l) => l.conn)).toEqual([0, 1, 2, 100, 101, 102, 103, 104])
  })

  it('many spoofed sources: tracked keys stay within MAX_KEYS, lines per reason within the per-reason cap, and the rest is counted', () => {
    const { rlog, lines, clock } = setup()
    const n = MAX_KEYS * 3
    for (let i = 0; i < n; i++) {
      rlog.warn('udp:rate-limit', { remote: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:53` }, 'datagram dropped')
      expect(rlog.tracked).toBeLessThanOrEqual(MAX_KEYS)
    }
    expect(rlog.tracked).toBe(MAX_KEYS)
    const cap = 5 * SOURCES_PER_REASON
    expect(lines('datagram dropped')).toHaveLength(cap)
    // Another reason is not starved by the flood of the first.
    rlog.warn('refused:max-conn', { remote: '10.0.0.1:1' }, 'connection refused')
    expect(lines('connection refused')).toHaveLength(1)
    clock.t += 1_000
    rlog.warn('udp:rate-limit', { remote: '192.168.0.1:53' }, 'datagram dropped')
    expect(lines(SUMMARY)).toEqual([expect.objectContaining({ suppressed: n - cap, reasons: { 'udp:rate-limit': n - cap } })])
    expect(rlog.tracked).toBe(1)
  })

  it('the source is the IP of ip:port, [v6]:port, v6:port and proto://ip:port', () => {
    expect(ipOf('127.0.0.1:5000')).toBe('127.0.0.1')
    expect(ipOf('::ffff:127.0.0.1:5000')).toBe('::ffff:127.0.0.1')
    expect(ipOf('::1:5000')).toBe('::1')
    expect(ipOf('[::1]:5000')).toBe('::1')
    expect(ipOf('udp://10.0.0.1:7')).toBe('10.0.0.1')
    expect(ipOf('tcp://[fe80::1]:7')).toBe('fe80::1')
  })
})
