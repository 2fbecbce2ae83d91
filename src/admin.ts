/**
 * @module admin
 * Operator commands of the same binary: `sessions stats`, `sessions prune`, `sessions revoke`.
 * They open the configured store next to a running server (SQLite in WAL mode and Redis both
 * allow that), print one line of result, and exit 0; a usage error exits 2, a store error 1.
 * Settings flags (e.g. `--session-db`) may follow the command.
 */
import { Database } from 'bun:sqlite'
import { existsSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import { ConfigError } from './config'
import { requireCapability, type SessionStore } from 'elysia-server-session'

export const ADMIN_USAGE = [
  'session-counter sessions stats                 records live (and remembered) and expired, storage used',
  'session-counter sessions prune                 delete expired records now',
  'session-counter sessions revoke --all          delete every session (everyone logs in again)',
  'session-counter sessions revoke --subject ID   delete every session bound to a subject (user)',
  'session-counter sessions backup FILE           copy the SQLite database, consistent, while it serves',
]

/**
 * Which admin command `args` names (the words after `sessions`), checked before any store is
 * opened. @returns the command and the remaining arguments (settings flags).
 */
export function parseAdminCommand(args: readonly string[]) {
  const [command, ...rest] = args
  if (command === 'stats' || command === 'prune') return { command, rest } as const
  if (command === 'backup') {
    if (!rest[0] || rest[0].startsWith('--')) throw new ConfigError('usage: session-counter sessions backup FILE [settings flags]')
    return { command, file: rest[0], rest: rest.slice(1) } as const
  }
  if (command === 'revoke') {
    if (rest[0] === '--all') return { command, all: true, rest: rest.slice(1) } as const
    if (rest[0] === '--subject' && rest[1]) return { command, subject: rest[1], rest: rest.slice(2) } as const
    throw new ConfigError('usage: session-counter sessions revoke --all | --subject ID [settings flags]')
  }
  throw new ConfigError(`usage:\n  ${ADMIN_USAGE.join('\n  ')}`)
}

export type AdminCommand = ReturnType<typeof parseAdminCommand>

/**
 * Copies a live SQLite session database to `file` with `VACUUM INTO`: one read transaction, so
 * the copy is consistent while the server keeps writing (WAL readers do not block writers).
 */
export function backupSqlite(database: string, file: string): string {
  if (existsSync(file)) throw new ConfigError(`backup: ${resolve(file)} exists; choose a new file`)
  const db = new Database(database, { readonly: true })
  try {
    db.run('VACUUM INTO ?', [file])
  } catch (error) {
    throw new Error(`cannot write ${resolve(file)}: ${(error as Error).message}`, { cause: error })
  } finally {
    db.close()
  }
  return `backed up ${resolve(database)} to ${resolve(file)} (${statSync(file).size} bytes)`
}

/** Runs `command` on `store`. @returns the line to print. */
export async function runAdminCommand(command: Exclude<AdminCommand, { command: 'backup' }>, store: SessionStore, now = Date.now()): Promise<string> {
  switch (command.command) {
    case 'stats': {
      const { live, expired, bytes, remembered } = await requireCapability(store, 'stats', 'sessions stats').stats(now)
      const size = bytes === undefined ? '' : `, ${bytes} bytes stored`
      const kept = remembered === undefined ? '' : ` (${remembered} remembered)`
      return `${live} live sessions${kept}, ${expired} expired not yet pruned${size}`
    }
    case 'prune': {
      const prunable = requireCapability(store, 'prune', 'sessions prune')
      let pruned = 0
      for (;;) {
        const batch = await prunable.prune(now, 1000)
        pruned += batch
        if (batch < 1000) return `pruned ${pruned} expired sessions`
      }
    }
    case 'revoke': {
      const revoked =
        'all' in command
          ? await requireCapability(store, 'destroyAll', 'sessions revoke --all').destroyAll()
          : await requireCapability(store, 'subjects', 'sessions revoke --subject').destroySubject(command.subject)
      return `revoked ${revoked} sessions`
    }
  }
}
