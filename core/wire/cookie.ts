// UDP address validation (QUIC's idea, small): a peer proves it receives at
// its source address by echoing a cookie the server sent there. The cookie is
// stateless: an HMAC of the address and the current minute under a key made
// once (by the first cookie), so validating costs no memory per spoofed source.
import { createRequire } from 'node:module'
import type * as nodeCrypto from 'node:crypto'

/** Server → peer: `[0xFFFFFF00][cookie 8 B]`. */
export const COOKIE_CHALLENGE = 0xffffff00
/** Peer → server: `[0xFFFFFF01][cookie 8 B]`. */
export const COOKIE_ECHO = 0xffffff01
/** Peer → server, padded to at least 8 bytes of data so the challenge fits in 3× its size. */
export const COOKIE_REQUEST = 0xffffff02
export const COOKIE_BYTES = 8

// node:crypto is loaded, and the key made, by the first cookie: crypto was
// 0.5 MiB of an idle server's RSS (bench/ accept), and a server whose UDP
// peers are never asked to prove their address never needs it.
const require = createRequire(import.meta.url)
let crypto: typeof nodeCrypto | undefined
const lib = (): typeof nodeCrypto => (crypto ??= require('node:crypto') as typeof nodeCrypto)

export class CookieJar {
  private key: Buffer | undefined = undefined

  make(address: string, port: number, minute = Math.floor(Date.now() / 60_000)): Buffer {
    const c = lib()
    this.key ??= c.randomBytes(32)
    return c.createHmac('sha256', this.key).update(`${address}|${port}|${minute}`).digest().subarray(0, COOKIE_BYTES)
  }

  /** Valid for the minute it was made in and the next one. */
  check(address: string, port: number, cookie: Buffer): boolean {
    if (cookie.length !== COOKIE_BYTES) return false
    const minute = Math.floor(Date.now() / 60_000)
    const { timingSafeEqual } = lib()
    return timingSafeEqual(cookie, this.make(address, port, minute)) || timingSafeEqual(cookie, this.make(address, port, minute - 1))
  }
}
