// heartbeat's `store` option: 'memory' keeps the registry to this process
// (no bus for the locator); anything but a redis:// URL is refused at setup
// with one line naming the key.
import { describe, expect, it } from 'vitest'
import { useBundled } from './bundled.ts'
import type { HeartbeatApi } from '../../plugins/heartbeat/index.ts'

const b = useBundled()

describe('heartbeat store option', () => {
  it("'memory' (the default): no shared store, no bus, no store counters", async () => {
    const p = await b.start()
    const api = p.app.plugins.api<HeartbeatApi>('heartbeat')!
    expect(api.bus).toBeNull()
    expect(api.stats().store).toBeUndefined()
  })

  for (const bad of ['mysql://127.0.0.1:3306', 'redis://', 'localhost:6379']) {
    it(`refuses ${JSON.stringify(bad)} naming the key and what it expected`, async () => {
      await expect(b.start({ heartbeat: { store: bad } })).rejects.toThrow(`heartbeat: store must be 'memory' or a URL redis://host:port/db, got ${JSON.stringify(bad)}`)
    })
  }

  it('refuses a storePrefix that is not a plain key prefix', async () => {
    await expect(b.start({ heartbeat: { storePrefix: 'has space' } })).rejects.toThrow('heartbeat: storePrefix must be 1-100 characters')
  })
})
