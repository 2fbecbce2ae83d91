/**
 * @module faults
 * Store faults as operators see them: by the engine's own code (SQLITE_FULL, SQLITE_BUSY,
 * WRONGPASS, ERR_REDIS_TIMEOUT), logged in full when a kind of fault begins, then summarised in
 * one line per interval with a count while it lasts: a full disk under load is a few lines a
 * minute, not one per failed request.
 */

export type FaultReporterOptions = {
  logger: { error(message: string): void }
  /** Milliseconds between the summary lines of one kind of fault. */
  intervalMs?: number
}

export const FAULT_REPORTER_DEFAULTS = { intervalMs: 10_000 }

/**
 * The engine's code of a fault (`code` when it carries one; a PostgreSQL server error with its
 * SQLSTATE, `ERR_POSTGRES_SERVER_ERROR/53100`, since Bun gives them all one code), else its error name.
 */
export function faultCode(error: unknown): string {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown }
  if (code === 'ERR_POSTGRES_SERVER_ERROR' && typeof errno === 'string' && errno !== '') return `${code}/${errno}`
  if (typeof code === 'string' && code !== '') return code
  return error instanceof Error ? error.name : typeof error
}

/** `CODE: message` (the message alone when it names its code), one line. */
export function describeFault(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim()
  const code = faultCode(error)
  return message.includes(code) ? message : `${code}: ${message}`
}

export type FaultReporter = {
  /** Logs the fault of `operation` now, or counts it toward the summary of its code. */
  report(operation: string, error: unknown): void
}

/**
 * @example
 * const faults = createFaultReporter({ logger: console })
 * try { await store.get(key, now) } catch (error) { faults.report('read', error) }
 */
export function createFaultReporter(options: FaultReporterOptions): FaultReporter {
  const { logger, intervalMs } = { ...FAULT_REPORTER_DEFAULTS, ...options }
  /** Per code in a running interval: faults since its last line, and what the latest was. */
  const open = new Map<string, { more: number; operation: string }>()
  const close = (code: string) => {
    const entry = open.get(code)!
    if (entry.more === 0) return void open.delete(code) // it stopped: the next one is logged in full
    logger.error(`session store: ${entry.more} more ${code} failure${entry.more === 1 ? '' : 's'} in the last ${intervalMs / 1000} s (latest: ${entry.operation})`)
    entry.more = 0
    setTimeout(close, intervalMs, code).unref()
  }
  return {
    report(operation, error) {
      const code = faultCode(error)
      const entry = open.get(code)
      if (entry) {
        entry.more++
        entry.operation = operation
        return
      }
      logger.error(`session store ${operation} failed: ${describeFault(error)}`)
      open.set(code, { more: 0, operation })
      setTimeout(close, intervalMs, code).unref()
    },
  }
}
