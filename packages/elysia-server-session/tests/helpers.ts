/** Shared test helpers of the library's own tests: secrets, temp folders, free ports. */
import { afterAll } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SessionStore } from '../src'

export { cookieClient as client, cookieOf, handleWith } from '../src/testing'

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop'
export const OLD_SECRET = 'old-secret-0123456789-abcdefghijklmnopq'

/** A temp folder removed after the file's tests. */
export function tempDir(prefix = 'sessions-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export async function freePort(): Promise<number> {
  const server = Bun.serve({ port: 0, fetch: () => new Response() })
  const port = server.port!
  await server.stop(true)
  return port
}

/** The session ID inside a `name=value` cookie pair. */
export const idOf = (cookie: string) => decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)).split('.')[0]!

/** `store`, with the name of every write operation pushed onto `writes` as it is called. */
export function recordingWrites(store: SessionStore, writes: string[]): SessionStore {
  return new Proxy(store, {
    get(target, prop: keyof SessionStore) {
      const value = target[prop]
      if (typeof value !== 'function') return value
      if (['create', 'update', 'increment', 'touch', 'rename', 'destroy'].includes(prop)) {
        return (...args: unknown[]) => (writes.push(prop), (value as Function).apply(target, args))
      }
      return value.bind(target)
    },
  })
}
