// A tiny leveled logger; the sink is injectable so tests can read what was refused.
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

export type LogSink = (level: LogLevel, scope: string, message: string) => void

export const stderrSink: LogSink = (level, scope, message) => {
  if (level === 'debug' && !process.env.DI_STUDIO_DEBUG) return
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [${scope}] ${message}\n`)
}

export function createLogger(scope: string, sink: LogSink = stderrSink): Logger {
  return {
    debug: (m) => sink('debug', scope, m),
    info: (m) => sink('info', scope, m),
    warn: (m) => sink('warn', scope, m),
    error: (m) => sink('error', scope, m),
  }
}
