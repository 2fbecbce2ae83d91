import { expect, test } from 'bun:test'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, parseConfig } from '../src/config'
import { checkSecrets, resolveSecrets } from '../src/secrets'
import { SECRET, tempDir } from './helpers'

const dir = tempDir('secrets-')
const configWith = (env: Record<string, string>) => parseConfig([], env)

test('configured secrets are checked before anything is written; production and Redis require them', () => {
  expect(checkSecrets(configWith({ SESSION_SECRET: SECRET }))).toEqual([SECRET])
  expect(checkSecrets(configWith({}))).toBeUndefined()
  expect(() => checkSecrets(configWith({ NODE_ENV: 'production' }))).toThrow(/required when NODE_ENV=production/)
  expect(() => checkSecrets(configWith({ SESSION_STORE: 'redis' }))).toThrow(/required with SESSION_STORE=redis/)
  expect(() => checkSecrets(configWith({ SESSION_SECRET: 'short' }))).toThrow(/shorter than 32 characters/)
})

test('a generated secret is kept beside the database, mode 0600, and read back on the next start', () => {
  const db = join(dir, 'data', 'sessions.db')
  const warnings: string[] = []
  const [first] = resolveSecrets(configWith({ SESSION_DB: db }), (m) => warnings.push(m))
  expect(statSync(join(dir, 'data', 'session-secret')).mode & 0o777).toBe(0o600)
  expect(resolveSecrets(configWith({ SESSION_DB: db }), (m) => warnings.push(m))).toEqual([first!])
  expect(warnings).toHaveLength(2)
})

test('a generated secret is never written into / or /dev', () => {
  for (const db of ['/sessions.db', '/dev/sessions.db', '/dev/shm/sessions.db']) {
    const config = configWith({ SESSION_DB: db })
    expect(() => resolveSecrets(config, () => {})).toThrow(ConfigError)
    expect(() => resolveSecrets(config, () => {})).toThrow(/SESSION_DB is in \/(dev(\/shm)?)?, where no secret file is written/)
  }
  expect(existsSync('/session-secret')).toBe(false)
  expect(existsSync('/dev/session-secret')).toBe(false)
})
