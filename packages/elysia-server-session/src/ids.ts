/**
 * @module ids
 * Session IDs: 256 bits from the CSPRNG, base64url. Stores never see an ID, only its SHA-256 (the
 * store key), so a copied database or a Redis dump grants no session.
 */

const ID_BYTES = 32
/** 32 bytes in base64url without padding is always 43 characters. */
const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/

/** A new session ID: 32 random bytes, base64url. */
export function generateId(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(ID_BYTES))).toString('base64url')
}

/** True when the string has the exact shape of an ID we issue; untrusted input is checked first. */
export function isWellFormedId(id: string): boolean {
  return ID_PATTERN.test(id)
}

/** The store key of an ID: SHA-256, base64url (43 characters). */
export function storeKey(id: string): string {
  return Bun.SHA256.hash(id, 'base64url')
}
