/**
 * @module log
 * One line per event: `pretty` (timestamp, level, message) for people, `json` for collectors.
 * Levels filter below the configured one. Never given a session ID.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'pretty' | 'json'
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error']

export type Logger = Record<LogLevel, (message: string, fields?: Record<string, unknown>) => void>

export type LoggerOptions = {
  level?: LogLevel
  format?: LogFormat
  write?: (line: string) => void
  now?: () => Date
}

/**
 * @example
 * const log = createLogger({ format: 'json', level: 'info' })
 * log.info('listening', { port: 3000 }) // {"time":"…","level":"info","msg":"listening","port":3000}
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = 'info', format = 'pretty', now = () => new Date() } = options
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'))
  const threshold = LOG_LEVELS.indexOf(level)
  const line = (lineLevel: LogLevel) => {
    if (LOG_LEVELS.indexOf(lineLevel) < threshold) return () => {}
    return (message: string, fields: Record<string, unknown> = {}) => {
      const time = now().toISOString()
      if (format === 'json') return write(JSON.stringify({ time, level: lineLevel, msg: message, ...fields }))
      const extra = Object.entries(fields)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      write(`${time} ${lineLevel} ${message}${extra.join('')}`)
    }
  }
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') }
}
