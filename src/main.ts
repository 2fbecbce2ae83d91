/**
 * @module main
 * The entry point of `session-counter`: reads the configuration, opens the store, serves, and on
 * SIGTERM or SIGINT stops accepting, finishes requests in flight, closes the store and exits 0.
 * Invalid configuration, or a server that cannot start (database not writable, port in use, bad
 * HOST): one line on stderr and exit code 2. No operator error ends in a stack trace.
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { backupSqlite, parseAdminCommand, runAdminCommand } from './admin'
import { createApp } from './app'
import { ConfigError, helpText, parseConfig, type Config } from './config'
import { createLogger, type Logger } from './log'
import { createServerMetrics, serveMetrics } from './observability'
import { checkSecrets, generateSecret, resolveSecrets } from './secrets'
import { memoryStore, postgresStore, redisStore, sqliteStore, type FullSessionStore } from 'elysia-server-session'

let log: Logger = createLogger()

/** Exits after writing out buffered log lines. */
function exit(code: number): never {
  log.flush()
  process.exit(code)
}

function fail(message: string): never {
  log.flush()
  process.stderr.write(`session-counter: ${message}\n`)
  process.exit(2)
}

async function openStore(config: Config, logger: Logger, onPruned?: (count: number) => void): Promise<FullSessionStore> {
  const common = { pruneIntervalMs: config.pruneInterval * 1000, warn: logger.warn, onPruned }
  if (config.store === 'memory') return memoryStore(common)
  if (config.store === 'redis') return redisStore({ url: config.redisUrl, prefix: config.redisPrefix, warn: logger.warn })
  if (config.store === 'postgres') return postgresStore({ ...config.postgres, ...common })
  if (config.store === 'redis-cluster' || config.store === 'redis-sentinel') {
    // ioredis, which only these two stores use, loads on demand: every other process is about
    // 6 MB smaller at its peak under load (SQLite, 10,000 returning visitors: 97-99 MB against 105).
    const { redisClusterStore, redisSentinelStore } = await import('elysia-server-session/redis-cluster')
    const ha = { prefix: config.redisPrefix, replicaWaitMs: config.redisReplicaWait, warn: logger.warn }
    if (config.store === 'redis-cluster') return redisClusterStore({ nodes: config.redisClusterNodes, ...ha })
    return redisSentinelStore({ sentinels: config.redisSentinels, master: config.redisSentinelMaster, ...ha })
  }
  try {
    return sqliteStore({ path: config.db, busyTimeoutMs: config.busyTimeout, cacheSize: config.cacheRows, ...common })
  } catch (error) {
    throw new ConfigError(`cannot open the session database ${resolve(config.db)}: ${(error as Error).message}`)
  }
}

/** The URL with its password masked, for the log. */
function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@')
  }
}

/** `http://host:port` for a client of a listener on `host` (a wildcard address means this machine). */
function urlOf(host: string, port: number): string {
  const client = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '::1' : host
  return `http://${client.includes(':') && !client.startsWith('[') ? `[${client}]` : client}:${port}`
}

/**
 * Listens with `start`; an address in use or a bad host is a ConfigError naming `what`, the address
 * and the `settings` that chose it.
 */
function listening<T>(what: string, settings: string, host: string, port: number, start: () => T): T {
  try {
    return start()
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException
    const reason = code === 'EADDRINUSE' ? 'the port is in use' : code && !message.startsWith(code) ? `${code}: ${message}` : message
    throw new ConfigError(`cannot listen for ${what} on ${urlOf(host, port)} (${settings}): ${reason}`)
  }
}

async function healthcheck(config: Config): Promise<number> {
  try {
    const response = await fetch(`${urlOf(config.host, config.port)}/healthz`, { signal: AbortSignal.timeout(2000) })
    return response.ok ? 0 : 1
  } catch {
    return 1
  }
}

/** `session-counter sessions ...`: one line of result on stdout; exit 0, or 1 on a store error. */
async function admin(args: string[]): Promise<number> {
  const command = parseAdminCommand(args)
  const config = parseConfig(command.rest, process.env)
  if (config.store === 'sqlite' && !existsSync(config.db)) throw new ConfigError(`no session database at ${resolve(config.db)}`)
  if (config.store === 'memory') throw new ConfigError('the memory store lives inside the server: nothing to manage')
  const failed = (error: unknown) => {
    log.flush()
    process.stderr.write(`session-counter: sessions ${command.command} failed: ${(error as Error).message}\n`)
    return 1
  }
  if (command.command === 'backup') {
    if (config.store !== 'sqlite') throw new ConfigError('sessions backup copies SQLite; back Redis up with its own RDB/AOF files, PostgreSQL with pg_dump')
    try {
      console.log(backupSqlite(config.db, command.file))
      return 0
    } catch (error) {
      if (error instanceof ConfigError) throw error
      return failed(error)
    }
  }
  const store = await openStore({ ...config, pruneInterval: 0 }, log)
  try {
    console.log(await runAdminCommand(command, store))
    return 0
  } catch (error) {
    return failed(error)
  } finally {
    await store.close()
  }
}

async function serve(config: Config) {
  log = createLogger({ format: config.logFormat, level: config.logLevel })
  checkSecrets(config) // before anything is written
  const metrics = createServerMetrics(async () => (await store.stats(Date.now())).live)
  const store = await openStore(config, log, metrics.onPruned)
  const secrets = resolveSecrets(config, log.warn) // a generated one is kept beside the database, now known usable
  const app = createApp({
    metrics,
    store,
    secrets,
    cookieName: config.cookieName,
    secure: config.secure,
    trustProxy: config.trustProxy,
    flood: config.flood,
    // Debug lines: one per event, which any client can cause at will; counts are in the metrics,
    // and floods get one warning per address per window from the library. Below debug no hook
    // reads an event's session, so its hash is never computed.
    onEvent:
      config.logLevel === 'debug'
        ? ({ type, session, previous, address, reason }) => log.debug(`session ${type}`, { session, previous, address, reason })
        : undefined,
    idleTimeout: config.idleTimeout,
    absoluteTimeout: config.absoluteTimeout,
    touchInterval: config.touchInterval,
    maxBytes: config.maxBytes,
    log: { warn: log.warn, error: log.error, debug: config.logLevel === 'debug' ? log.debug : undefined },
  })
  const { host, port } = config
  const metricsAt = config.metrics
  // Ports are not shared (Elysia's default reusePort would let a second instance, or anything else
  // that shares ports, split the traffic with this one): a port in use is an error.
  const metricsListener =
    metricsAt.port === undefined
      ? undefined
      : listening('/metrics', 'METRICS_HOST/METRICS_PORT', metricsAt.host, metricsAt.port, () =>
          serveMetrics(metrics, { port: metricsAt.port!, hostname: metricsAt.host })
        )
  listening('requests', 'HOST/PORT', host, port, () => app.listen({ port, hostname: host, reusePort: false }))
  let where =
    config.store === 'sqlite' ? `, database ${resolve(config.db)}`
    : config.store === 'redis' ? `, ${withoutPassword(config.redisUrl)}`
    : config.store === 'postgres' ? `, ${withoutPassword(config.postgres.url)} table ${config.postgres.schema}.${config.postgres.table}` : ''
  const seeds = config.store === 'redis-cluster' ? config.redisClusterNodes : config.store === 'redis-sentinel' ? config.redisSentinels : []
  if (seeds.length > 0) where += `, ${seeds.map(withoutPassword).join(',')}`
  log.info(`listening on http://${config.host}:${app.server!.port} (store ${config.store}${where})`)
  if (metricsListener) {
    metrics.watchStored()
    log.info(`metrics on http://${metricsAt.host}:${metricsListener.port}/metrics`)
  }

  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    log.info(`${signal}: finishing requests in flight`)
    try {
      await Promise.all([app.stop(), metricsListener?.stop()])
      await store.close()
      log.info('stopped')
      exit(0)
    } catch (error) {
      log.error(`shutdown failed: ${(error as Error).message}`)
      exit(1)
    }
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
}

const args = process.argv.slice(2)
try {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(helpText())
  } else if (args[0] === 'secret') {
    if (args[1] !== 'generate' || args.length > 2) fail('usage: session-counter secret generate')
    console.log(generateSecret())
  } else if (args[0] === 'sessions') {
    exit(await admin(args.slice(1)))
  } else if (args[0] === 'healthcheck') {
    exit(await healthcheck(parseConfig(args.slice(1), process.env)))
  } else {
    await serve(parseConfig(args, process.env))
  }
} catch (error) {
  if (error instanceof ConfigError) fail(error.message)
  // Anything else is still one line: the operator needs the reason, not our stack.
  log.flush()
  process.stderr.write(`session-counter: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exit(1)
}
