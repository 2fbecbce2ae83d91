/**
 * @module log
 * One line per event: `pretty` (timestamp, level, message) for people, `json` for collectors.
 * Levels filter below the configured one. Never given a session ID.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'pretty' | 'json'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export type Logger = Record<LogLevel, (message: string, fields?: Record<string, unknown>) => void> & {
  /** Writes out buffered lines now (before exiting). */
  flush(): void
}

export type LoggerOptions = {
  level?: LogLevel
  format?: LogFormat
  /** Where lines go; by default stderr, buffered within one turn of the event loop. */
  write?: (line: string) => void
  now?: () => Date
}

/**
 * Lines to stderr, written together once per turn of the event loop: a busy server logs one
 * line per new session, and a write call per line costs more than the request itself.
 * Error lines go out at once.
 */
function stderrLines() {
  const sink = Bun.stderr.writer()
  let scheduled = false
  const flush = () => {
    scheduled = false
    sink.flush()
  }
  const write = (line: string, urgent = false) => {
    sink.write(line + '\n')
    if (urgent) flush()
    else if (!scheduled) {
      scheduled = true
      setImmediate(flush)
    }
  }
  return { write, flush }
}

/**
 * @example
 * const log = createLogger({ format: 'json', level: 'info' })
 * log.info('listening', { port: 3000 }) // {"time":"…","level":"info","msg":"listening","port":3000}
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', format = 'pretty', now = () => new Date() } = options
  const out = options.write ? { write: options.write, flush: () => {} } : stderrLines()
  const threshold = LOG_LEVELS.indexOf(level)
  const line = (lineLevel: LogLevel) => {
    if (LOG_LEVELS.indexOf(lineLevel) < threshold) return () => {}
    return (message: string, fields: Record<string, unknown> = {}) => {
      const time = now().toISOString()
      const urgent = lineLevel === 'error'
      if (format === 'json') return out.write(JSON.stringify({ time, level: lineLevel, msg: message, ...fields }), urgent)
      const extra = Object.entries(fields)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      out.write(`${time} ${lineLevel} ${message}${extra.join('')}`, urgent)
    }
  }
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), flush: out.flush }
}
