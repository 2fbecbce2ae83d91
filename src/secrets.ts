/**
 * @module secrets
 * Where the signing secrets come from when SESSION_SECRET is unset: in production nowhere (an
 * error), in development a generated secret kept beside the database (mode 0600) so that
 * sessions survive restarts.
 */
import { readFileSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { ConfigError, type Config } from './config'
import { MIN_SECRET_LENGTH } from 'elysia-server-session'

/** A new secret: 48 random bytes, base64url (64 characters). */
export function generateSecret(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(48))).toString('base64url')
}

const HOW_TO =
  'set SESSION_SECRET to one or more comma-separated secrets of at least 32 characters (make one with `session-counter secret generate`)'

/**
 * Checks the configured secrets before anything is opened or written. @returns them, or
 * `undefined` when one is to be generated (unset outside production, see `resolveSecrets`).
 */
export function checkSecrets(config: Config): string[] | undefined {
  if (config.secrets.length > 0) {
    const short = config.secrets.findIndex((secret) => secret.length < MIN_SECRET_LENGTH)
    if (short >= 0) {
      throw new ConfigError(`SESSION_SECRET: secret #${short + 1} is shorter than ${MIN_SECRET_LENGTH} characters; ${HOW_TO}`)
    }
    return config.secrets
  }
  if (config.production) throw new ConfigError(`SESSION_SECRET is required when NODE_ENV=production: ${HOW_TO}`)
  if (config.store.startsWith('redis') || config.store === 'postgres') {
    throw new ConfigError(`SESSION_SECRET is required with SESSION_STORE=${config.store}: all instances must share it; ${HOW_TO}`)
  }
  return undefined
}

/** Folders a generated secret is never written into, whatever SESSION_DB says. */
const NOT_FOR_SECRETS = /^\/(dev(\/.*)?)?$/

/**
 * The secrets to sign with; `warn` is told when one was generated or loaded from a file. Call it
 * after the store opened: the file beside the database is written only once that path proved usable.
 */
export function resolveSecrets(config: Config, warn: (message: string) => void): string[] {
  const configured = checkSecrets(config)
  if (configured) return configured
  if (config.store === 'memory') {
    warn('SESSION_SECRET is unset: using a random secret for this process only (memory store)')
    return [generateSecret()]
  }
  const folder = dirname(resolve(config.db))
  if (NOT_FOR_SECRETS.test(folder)) {
    throw new ConfigError(`SESSION_SECRET is unset and SESSION_DB is in ${folder}, where no secret file is written: give the database a folder of its own, or ${HOW_TO}`)
  }
  const file = join(folder, 'session-secret')
  try {
    mkdirSync(dirname(file), { recursive: true })
    try {
      // 'wx' fails when the file exists, so two processes starting together agree on one secret.
      writeFileSync(file, generateSecret() + '\n', { flag: 'wx', mode: 0o600 })
      warn(`SESSION_SECRET is unset: generated one and kept it in ${file}; set SESSION_SECRET in production`)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      warn(`SESSION_SECRET is unset: using the generated secret in ${file}`)
    }
    chmodSync(file, 0o600)
    const secret = readFileSync(file, 'utf8').trim()
    if (secret.length < MIN_SECRET_LENGTH) throw new Error(`it holds fewer than ${MIN_SECRET_LENGTH} characters`)
    return [secret]
  } catch (error) {
    throw new ConfigError(`cannot use the secret file ${file}: ${(error as Error).message}; ${HOW_TO}`)
  }
}
