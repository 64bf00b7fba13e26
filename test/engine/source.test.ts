// One source per IPv4 address or IPv6 /64, and the per-source quota built on it.
import { describe, expect, it } from 'vitest'
import { SourceQuota, sourceOf } from '../../core/engine/source.ts'

describe('sourceOf', () => {
  it('is the address for IPv4, the IPv4 for a mapped address, and the /64 for IPv6', () => {
    expect(sourceOf('203.0.113.9')).toBe('203.0.113.9')
    expect(sourceOf('::ffff:203.0.113.9')).toBe('203.0.113.9')
    expect(sourceOf('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64')
    expect(sourceOf('2001:db8:1:2::99')).toBe('2001:db8:1:2::/64')
    expect(sourceOf('2001:db8:1:2:ffff::1%eth0')).toBe('2001:db8:1:2::/64')
    expect(sourceOf('2001:0db8:0001:0002::1')).toBe('2001:db8:1:2::/64')
    expect(sourceOf('2001:db8::1')).toBe('2001:db8:0:0::/64')
    expect(sourceOf('::1')).toBe('0:0:0:0::/64')
    expect(sourceOf('::')).toBe('0:0:0:0::/64')
    expect(sourceOf('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64')
  })

  it('every address of one /64 is one source; the next /64 is another', () => {
    const a = new Set(Array.from({ length: 100 }, (_, i) => sourceOf(`2001:db8:aa:bb:${i.toString(16)}::${i}`)))
    expect([...a]).toEqual(['2001:db8:aa:bb::/64'])
    expect(sourceOf('2001:db8:aa:bc::1')).not.toBe(sourceOf('2001:db8:aa:bb::1'))
  })
})

describe('SourceQuota', () => {
  it('gives each source at most its limit and takes it back on release', () => {
    const q = new SourceQuota(2)
    expect([q.take('a'), q.take('a'), q.take('a'), q.take('b')]).toEqual([true, true, false, true])
    q.release('a')
    expect(q.take('a')).toBe(true)
    expect(q.count('a')).toBe(2)
    q.release('b')
    q.release('b')
    expect(q.sources).toBe(1)
  })
})
