import { describe, expect, test } from 'bun:test'
import { createHmac } from 'node:crypto'
import { sign, unsign } from '../src/signing'
import { generateId, isWellFormedId, storeKey } from '../src/ids'
import { OLD_SECRET, SECRET } from './helpers'

const reference = (value: string, secret: string) =>
  `${value}.${createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '')}`

describe('signing (cookie-signature format)', () => {
  test('matches HMAC-SHA256 base64 without padding', () => {
    for (const value of ['abc', 'a.b.c', generateId(), 'ünï/+=', '']) {
      expect(sign(value, SECRET)).toBe(reference(value, SECRET))
    }
  })

  test('every secret verifies and the index tells which', () => {
    const id = generateId()
    expect(unsign(sign(id, SECRET), [SECRET, OLD_SECRET])).toEqual({ value: id, secretIndex: 0 })
    expect(unsign(sign(id, OLD_SECRET), [SECRET, OLD_SECRET])).toEqual({ value: id, secretIndex: 1 })
    expect(unsign(sign(id, OLD_SECRET), [SECRET])).toBeUndefined()
  })

  test('tampered, truncated or unsigned values are refused', () => {
    const signed = sign(generateId(), SECRET)
    const flipped = signed.slice(0, -1) + (signed.endsWith('A') ? 'B' : 'A')
    for (const bad of [flipped, signed.slice(0, -2), signed.split('.')[0]!, '', '.', `x${signed}`]) {
      expect(unsign(bad, [SECRET])).toBeUndefined()
    }
  })
})

describe('ids', () => {
  test('a creation time in base36, then 32 random bytes in base64url, never repeated', () => {
    const before = Date.now()
    const ids = new Set(Array.from({ length: 1000 }, () => generateId()))
    const after = Date.now()
    expect(ids.size).toBe(1000)
    for (const id of ids) {
      expect(isWellFormedId(id)).toBe(true)
      expect(id).toHaveLength(52)
      const made = parseInt(id.slice(0, 9), 36)
      expect(made).toBeGreaterThanOrEqual(before)
      expect(made).toBeLessThanOrEqual(after)
      expect(Buffer.from(id.slice(9), 'base64url')).toHaveLength(32)
    }
  })

  test('a later ID sorts after an earlier one, and so does its store key (an index appends it)', () => {
    const at = Date.parse('2026-12-01T12:00:00Z')
    const ids = [at, at + 1, at + 1000, at + 86_400_000 * 365 * 40].map((t) => generateId(t))
    expect([...ids].sort()).toEqual(ids)
    const keys = ids.map(storeKey)
    expect([...keys].sort()).toEqual(keys)
  })

  test('only the exact shapes are well formed: ours, and the 43-character IDs of earlier versions', () => {
    const legacy = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    expect(isWellFormedId(legacy)).toBe(true)
    const id = generateId()
    for (const bad of ['', 'short', id + 'x', id.slice(1), 'A' + id.slice(1), legacy + 'x', legacy.slice(1) + '=', "'; DROP TABLE--".padEnd(43), "'; DROP TABLE--".padEnd(52)]) {
      expect(isWellFormedId(bad)).toBe(false)
    }
  })

  test('the store key is the SHA-256 of the ID after its creation time, never the ID', () => {
    const id = generateId()
    const hash = new Bun.CryptoHasher('sha256').update(id).digest('base64url')
    expect(storeKey(id)).toBe(id.slice(0, 9) + hash)
    expect(storeKey(id)).not.toContain(id.slice(9))
    // An earlier version's ID keeps its key: sessions stored before the upgrade still load.
    const legacy = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
    expect(storeKey(legacy)).toBe(new Bun.CryptoHasher('sha256').update(legacy).digest('base64url'))
  })
})
