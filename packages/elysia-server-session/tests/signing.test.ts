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
  test('32 random bytes in base64url, never repeated', () => {
    const ids = new Set(Array.from({ length: 1000 }, generateId))
    expect(ids.size).toBe(1000)
    for (const id of ids) {
      expect(isWellFormedId(id)).toBe(true)
      expect(Buffer.from(id, 'base64url')).toHaveLength(32)
    }
  })

  test('only the exact shape is well formed', () => {
    for (const bad of ['', 'short', generateId() + 'x', generateId().slice(1) + '=', "'; DROP TABLE--".padEnd(43)]) {
      expect(isWellFormedId(bad)).toBe(false)
    }
  })

  test('the store key is the SHA-256 of the ID, not the ID', () => {
    const id = generateId()
    expect(storeKey(id)).toBe(new Bun.CryptoHasher('sha256').update(id).digest('base64url'))
    expect(storeKey(id)).not.toContain(id)
  })
})
