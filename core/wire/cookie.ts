// UDP address validation (QUIC's idea, small): a peer proves it receives at
// its source address by echoing a cookie the server sent there. The cookie is
// stateless: an HMAC of the address and the current minute under a key made
// at start, so validating costs no memory per spoofed source.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/** Server → peer: `[0xFFFFFF00][cookie 8 B]`. */
export const COOKIE_CHALLENGE = 0xffffff00
/** Peer → server: `[0xFFFFFF01][cookie 8 B]`. */
export const COOKIE_ECHO = 0xffffff01
/** Peer → server, padded to at least 8 bytes of data so the challenge fits in 3× its size. */
export const COOKIE_REQUEST = 0xffffff02
export const COOKIE_BYTES = 8

export class CookieJar {
  private readonly key = randomBytes(32)

  make(address: string, port: number, minute = Math.floor(Date.now() / 60_000)): Buffer {
    return createHmac('sha256', this.key).update(`${address}|${port}|${minute}`).digest().subarray(0, COOKIE_BYTES)
  }

  /** Valid for the minute it was made in and the next one. */
  check(address: string, port: number, cookie: Buffer): boolean {
    if (cookie.length !== COOKIE_BYTES) return false
    const minute = Math.floor(Date.now() / 60_000)
    return timingSafeEqual(cookie, this.make(address, port, minute)) || timingSafeEqual(cookie, this.make(address, port, minute - 1))
  }
}
