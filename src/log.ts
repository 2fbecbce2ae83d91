/**
 * @module log
 * One line per event on stderr, with a timestamp and a level. Never given a session ID.
 */
export type Logger = {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

export function createLogger(write: (line: string) => void = (line) => process.stderr.write(line + '\n')): Logger {
  const line = (level: string) => (message: string) => write(`${new Date().toISOString()} ${level} ${message}`)
  return { info: line('info'), warn: line('warn'), error: line('error') }
}
