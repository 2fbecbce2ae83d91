import { expect, test } from 'bun:test'
import { memoryStore, sessionDefaults } from '../src'
import { resolveSessionOptions } from '../src/options'

const secrets = ['a-secret-of-at-least-thirty-two-characters']

test('sessionDefaults is what an option left out becomes', () => {
  const resolved = resolveSessionOptions({ store: memoryStore({ pruneIntervalMs: 0 }), secrets })
  expect(resolved).toMatchObject(sessionDefaults)
  expect(resolved.idleMs).toBe(sessionDefaults.idleTimeout * 1000)
  expect(resolved.graceMs).toBe(sessionDefaults.renewalGrace * 1000)
})

test('an option given wins over its default', () => {
  const resolved = resolveSessionOptions({ store: memoryStore({ pruneIntervalMs: 0 }), secrets, idleTimeout: 60, cookieName: 'sid' })
  expect(resolved.idleTimeout).toBe(60)
  expect(resolved.cookieName).toBe('sid')
  expect(resolved.absoluteTimeout).toBe(sessionDefaults.absoluteTimeout)
})

test("the README's options table quotes sessionDefaults, every one of them", async () => {
  const readme = await Bun.file(new URL('../README.md', import.meta.url)).text()
  const section = readme.slice(readme.indexOf('\n## Options'), readme.indexOf('\n## Recipes'))
  const quoted = Object.fromEntries(
    [...section.matchAll(/^\| `(\w+)` \| `([^`]+)` \|/gm)].map(([, name, value]) => [name, value!.replace(/^'(.*)'$/, '$1')])
  )
  const scalars = Object.entries(sessionDefaults).filter(([, value]) => typeof value !== 'object')
  expect(quoted).toEqual(Object.fromEntries(scalars.map(([name, value]) => [name, String(value)])))
  // The flood defaults are quoted in a sentence.
  const { threshold, windowSeconds, blockSeconds } = sessionDefaults.flood
  expect(section).toContain(`${threshold} new sessions plus bad cookies per address per ${windowSeconds} s`)
  expect(section).toContain(`\`blockSeconds\` (${blockSeconds}: never)`)
})

test('the defaults cannot be changed at run time: a dependency mutating them would weaken every later session()', () => {
  const before = JSON.stringify(sessionDefaults)
  expect(() => {
    ;(sessionDefaults as { idleTimeout: number }).idleTimeout = 5
  }).toThrow(TypeError)
  expect(() => (sessionDefaults.csrf.trustedOrigins as string[]).push('https://evil.example')).toThrow(TypeError)
  expect(() => {
    ;(sessionDefaults.flood as { blockSeconds: number }).blockSeconds = 300
  }).toThrow(TypeError)
  expect(JSON.stringify(sessionDefaults)).toBe(before)
})
