// The one host:port reader: flags, env, client URLs and CLI arguments all use it.
import { describe, expect, it } from 'vitest'
import { formatHostPort, splitHostPort } from '../../core/wire/address.ts'
import { parseHostPort } from '../../core/config.ts'
import { connect } from '../../core/client/index.ts'

describe('splitHostPort', () => {
  it('reads names, IPv4, bracketed IPv6 and an empty host; refuses the rest', () => {
    expect(splitHostPort('127.0.0.1:6430')).toEqual({ host: '127.0.0.1', port: 6430 })
    expect(splitHostPort('node-1.example:0')).toEqual({ host: 'node-1.example', port: 0 })
    expect(splitHostPort('[::1]:65535')).toEqual({ host: '::1', port: 65535 })
    expect(splitHostPort(':80')).toEqual({ host: '', port: 80 })
    for (const bad of ['::1:80', '127.0.0.1', '127.0.0.1:65536', 'a:b', '[::1]', 'a/b:1', '127.0.0.1:123456']) expect(splitHostPort(bad), bad).toBeNull()
  })

  it('formatHostPort writes what it reads back', () => {
    for (const at of [{ host: '::1', port: 1 }, { host: '10.0.0.7', port: 8080 }]) expect(splitHostPort(formatHostPort(at))).toEqual(at)
  })

  it('is what flags, URLs and the CLI accept', () => {
    expect(parseHostPort('6430', '--tcp')).toEqual({ host: '0.0.0.0', port: 6430 })
    expect(parseHostPort('[::1]:0', '--tcp')).toEqual({ host: '::1', port: 0 })
    expect(() => parseHostPort('::1:80', '--tcp')).toThrow('--tcp: expected HOST:PORT (port 0-65535), got "::1:80"')
    expect(() => connect('tcp://:6430')).toThrow(/tcp:\/\/:6430/)
    expect(() => connect('tcp://127.0.0.1:0')).toThrow(/127\.0\.0\.1:0/)
  })
})
