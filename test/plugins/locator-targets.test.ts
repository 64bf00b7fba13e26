// Where the unicast locator sends each node its query (plugins/locator/targets.ts).
import { describe, expect, it } from 'vitest'
import type { BeatSocket, NodeInfo } from '../../plugins/heartbeat/index.ts'
import { queryTargets } from '../../plugins/locator/targets.ts'

const node = (announced: string, address: string, port: number, socket: BeatSocket, protocol: 'udp' | 'tcp' = 'udp'): NodeInfo => ({
  node: announced,
  local: true,
  from: { protocol, address, port, connId: 7 },
  socket,
  firstSeen: 0,
  lastSeen: 0,
  expiresInMs: 1,
})

describe('queryTargets', () => {
  it('a node beating from its announced address, or from a kept socket, gets the framed query there', () => {
    expect(queryTargets(node('127.0.0.1:9000', '127.0.0.1', 9000, 'unknown'), true)).toEqual([{ form: 'framed', address: '127.0.0.1', port: 9000 }])
    expect(queryTargets(node('127.0.0.1:9000', '127.0.0.1', 41000, 'kept'), true)).toEqual([{ form: 'framed', address: '127.0.0.1', port: 41000 }])
  })

  it('a socket per beat gets the bare name at the announced port; not known yet: both forms', () => {
    expect(queryTargets(node('127.0.0.1:9000', '127.0.0.1', 41000, 'per-beat'), true)).toEqual([{ form: 'raw', address: '127.0.0.1', port: 9000 }])
    expect(queryTargets(node('127.0.0.1:9000', '127.0.0.1', 41000, 'unknown'), true)).toEqual([
      { form: 'framed', address: '127.0.0.1', port: 41000 },
      { form: 'raw', address: '127.0.0.1', port: 9000 },
    ])
  })

  it('IPv6 in brackets and IPv4 seen through a dual-stack socket match their source', () => {
    expect(queryTargets(node('[::1]:9000', '::1', 41000, 'per-beat'), true)).toEqual([{ form: 'raw', address: '::1', port: 9000 }])
    expect(queryTargets(node('127.0.0.1:9000', '::ffff:127.0.0.1', 41000, 'per-beat'), true)).toEqual([{ form: 'raw', address: '::ffff:127.0.0.1', port: 9000 }])
  })

  it('another IP, a DNS name, rawQueries off: only the framed query at the beat-from address', () => {
    for (const n of [node('127.0.0.2:9000', '127.0.0.1', 41000, 'per-beat'), node('localhost:9000', '127.0.0.1', 41000, 'per-beat'), node('[::2]:9000', '::1', 41000, 'per-beat')]) {
      expect(queryTargets(n, true), n.node).toEqual([{ form: 'framed', address: n.from.address, port: 41000 }])
    }
    expect(queryTargets(node('127.0.0.1:9000', '127.0.0.1', 41000, 'per-beat'), false)).toEqual([{ form: 'framed', address: '127.0.0.1', port: 41000 }])
  })

  it('TCP beats: over the connection', () => {
    expect(queryTargets(node('127.0.0.1:9000', '127.0.0.1', 41000, 'kept', 'tcp'), true)).toEqual([{ form: 'tcp', connId: 7 }])
  })
})
