/**
 * @module admin
 * Operator commands of the same binary: `sessions stats`, `sessions prune`, `sessions revoke`.
 * They open the configured store next to a running server (SQLite in WAL mode and Redis both
 * allow that), print one line of result, and exit 0; a usage error exits 2, a store error 1.
 * Settings flags (e.g. `--session-db`) may follow the command.
 */
import { ConfigError } from './config'
import type { SessionStore } from './session'

export const ADMIN_USAGE = [
  'session-counter sessions stats                 records live and expired, storage used',
  'session-counter sessions prune                 delete expired records now',
  'session-counter sessions revoke --all          delete every session (everyone logs in again)',
  'session-counter sessions revoke --subject ID   delete every session bound to a subject (user)',
]

/**
 * Which admin command `args` names (the words after `sessions`), checked before any store is
 * opened. @returns the command and the remaining arguments (settings flags).
 */
export function parseAdminCommand(args: readonly string[]) {
  const [command, ...rest] = args
  if (command === 'stats' || command === 'prune') return { command, rest } as const
  if (command === 'revoke') {
    if (rest[0] === '--all') return { command, all: true, rest: rest.slice(1) } as const
    if (rest[0] === '--subject' && rest[1]) return { command, subject: rest[1], rest: rest.slice(2) } as const
    throw new ConfigError('usage: session-counter sessions revoke --all | --subject ID [settings flags]')
  }
  throw new ConfigError(`usage:\n  ${ADMIN_USAGE.join('\n  ')}`)
}

export type AdminCommand = ReturnType<typeof parseAdminCommand>

/** Runs `command` on `store`. @returns the line to print. */
export async function runAdminCommand(command: AdminCommand, store: SessionStore, now = Date.now()): Promise<string> {
  switch (command.command) {
    case 'stats': {
      const { live, expired, bytes } = await store.stats(now)
      const size = bytes === undefined ? '' : `, ${bytes} bytes stored`
      return `${live} live sessions, ${expired} expired not yet pruned${size}`
    }
    case 'prune': {
      let pruned = 0
      for (;;) {
        const batch = await store.prune(now, 1000)
        pruned += batch
        if (batch < 1000) return `pruned ${pruned} expired sessions`
      }
    }
    case 'revoke': {
      const revoked = 'all' in command ? await store.destroyAll() : await store.destroySubject(command.subject)
      return `revoked ${revoked} sessions`
    }
  }
}
