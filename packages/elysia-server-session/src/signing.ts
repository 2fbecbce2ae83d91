/**
 * @module signing
 * Cookie signatures in cookie-signature's format: `value.base64(HMAC-SHA256(value))` with the
 * `=` padding stripped, so express-session tooling and Elysia's own `signCookie` agree with ours.
 * Signing lives here rather than in Elysia's cookie `sign` option because that option turns any
 * stale or garbage cookie into a 400 on every route; a bad signature must mean "no session".
 */

/** `value.signature` signed with `secret`. */
export function sign(value: string, secret: string): string {
  return `${value}.${signature(value, secret)}`
}

// Keyed HMAC states by key: copying one skips the key schedule on every call (about 2x).
const keyed = new Map<string, Bun.CryptoHasher>()

/** HMAC-SHA256 of `value` under `key`. @internal */
export function hmac(value: string, key: string, encoding: 'base64' | 'base64url'): string {
  let hasher = keyed.get(key)
  if (!hasher) {
    if (keyed.size >= 16) keyed.clear()
    keyed.set(key, (hasher = new Bun.CryptoHasher('sha256', key)))
  }
  return hasher.copy().update(value).digest(encoding)
}

// 32 bytes in base64 are always 44 characters, the last one `=` padding, which the format drops.
const signature = (value: string, secret: string) => hmac(value, secret, 'base64').slice(0, 43)

/** Compares in time that depends only on the length, which is public (43 characters). */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
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
  const given = signed.slice(dot + 1)
  for (let i = 0; i < secrets.length; i++) {
    if (constantTimeEqual(signature(value, secrets[i]!), given)) return { value, secretIndex: i }
  }
  return undefined
}
