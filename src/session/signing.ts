/**
 * @module signing
 * Cookie signatures in cookie-signature's format: `value.base64(HMAC-SHA256(value))` with the
 * `=` padding stripped, so express-session tooling and Elysia's own `signCookie` agree with ours.
 * Signing lives here rather than in Elysia's cookie `sign` option because that option turns any
 * stale or garbage cookie into a 400 on every route; a bad signature must mean "no session".
 */
import { timingSafeEqual } from 'node:crypto'

/** `value.signature` signed with `secret`. */
export function sign(value: string, secret: string): string {
  return `${value}.${signature(value, secret)}`
}

function signature(value: string, secret: string): string {
  return new Bun.CryptoHasher('sha256', secret).update(value).digest('base64').replace(/=+$/, '')
}

export type Unsigned = {
  value: string
  /** Index of the secret that verified it: anything but 0 means "re-sign with the first". */
  secretIndex: number
}

/**
 * Verifies `signed` against every secret, first to last.
 * @returns the value and which secret verified it, or `undefined` when none does.
 */
export function unsign(signed: string, secrets: readonly string[]): Unsigned | undefined {
  const dot = signed.lastIndexOf('.')
  if (dot <= 0) return undefined
  const value = signed.slice(0, dot)
  const given = Buffer.from(signed.slice(dot + 1))
  for (let i = 0; i < secrets.length; i++) {
    const expected = Buffer.from(signature(value, secrets[i]!))
    if (expected.length === given.length && timingSafeEqual(expected, given)) {
      return { value, secretIndex: i }
    }
  }
  return undefined
}
