/**
 * @module log
 * One line per event: `pretty` (timestamp, level, message) for people, `json` for collectors.
 * Levels filter below the configured one. Never given a session ID. Values can come from
 * requests (a forwarded address, a path), so `pretty` quotes any field value that is not a plain
 * token and escapes control characters in messages: a value never forges a field or a line.
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

/** Characters a pretty field value may hold unquoted: addresses, paths, numbers, names. */
const PLAIN = /^[\w.:/@%+,-]+$/
/** Control characters (C0, DEL, C1, line and paragraph separators), shown escaped. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
const escapeControl = (text: string) => text.replace(CONTROL, (c) => JSON.stringify(c).slice(1, -1))
const prettyValue = (value: unknown) =>
  typeof value === 'string' && PLAIN.test(value) ? value : JSON.stringify(value) ?? String(value)

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
        .map(([key, value]) => ` ${key}=${prettyValue(value)}`)
      out.write(`${time} ${lineLevel} ${escapeControl(message)}${extra.join('')}`, urgent)
    }
  }
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error'), flush: out.flush }
}
