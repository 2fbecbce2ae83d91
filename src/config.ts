/**
 * @module config
 * The server's settings, from the environment and from flags (flags win). One table drives both
 * parsing and `--help`, so every setting is listed with its default. Invalid input throws
 * `ConfigError`, which the entry point prints as one line before exiting with code 2.
 */
import { ADMIN_USAGE } from './admin'
import { LOG_LEVELS, type LogFormat, type LogLevel } from './log'
import { sessionDefaults } from 'elysia-server-session'

export class ConfigError extends Error {
  override name = 'ConfigError'
}

type Setting = { env: string; flag: string; default: string; help: string }

export const SETTINGS = {
  port: { env: 'PORT', flag: '--port', default: '3000', help: 'TCP port to listen on (0 picks a free one)' },
  host: { env: 'HOST', flag: '--host', default: '0.0.0.0', help: 'address to listen on' },
  store: { env: 'SESSION_STORE', flag: '--session-store', default: 'sqlite', help: 'sqlite | memory | redis | redis-cluster | redis-sentinel | postgres' },
  db: {
    env: 'SESSION_DB',
    flag: '--session-db',
    default: './data/sessions.db',
    help: 'SQLite file (its folder is created)',
  },
  redisUrl: {
    env: 'REDIS_URL',
    flag: '--redis-url',
    default: 'redis://127.0.0.1:6379',
    help: 'Redis for SESSION_STORE=redis: redis://[user:password@]host:port[/db], rediss:// for TLS',
  },
  redisClusterNodes: {
    env: 'REDIS_CLUSTER_NODES',
    flag: '--redis-cluster-nodes',
    default: '',
    help: 'SESSION_STORE=redis-cluster: comma-separated seed nodes, redis://[user:password@]host:port',
  },
  redisSentinels: {
    env: 'REDIS_SENTINELS',
    flag: '--redis-sentinels',
    default: '',
    help: 'SESSION_STORE=redis-sentinel: comma-separated sentinels, host:port (redis://user:password@host:port for the data nodes\' credentials)',
  },
  redisSentinelMaster: { env: 'REDIS_SENTINEL_MASTER', flag: '--redis-sentinel-master', default: 'mymaster', help: 'the name the sentinels know the primary by' },
  redisReplicaWait: {
    env: 'SESSION_REDIS_REPLICA_WAIT',
    flag: '--session-redis-replica-wait',
    default: '0',
    help: 'redis-cluster, redis-sentinel: ms a write waits for a replica to have it (WAIT 1), failing (503) when none does; 0 acknowledges on the primary alone (see README "Scaling out")',
  },
  redisPrefix: {
    env: 'SESSION_REDIS_PREFIX',
    flag: '--session-redis-prefix',
    default: 'sess:',
    help: 'prefix of the session keys in Redis (one per application sharing a Redis)',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    flag: '--database-url',
    default: 'postgres://postgres@127.0.0.1:5432/postgres',
    help: 'PostgreSQL for SESSION_STORE=postgres: postgres://user:password@host:port/database',
  },
  pgPool: { env: 'SESSION_PG_POOL', flag: '--session-pg-pool', default: '10', help: 'PostgreSQL connections per instance' },
  pgSchema: { env: 'SESSION_PG_SCHEMA', flag: '--session-pg-schema', default: 'public', help: 'PostgreSQL schema of the sessions table (created when missing)' },
  pgTable: { env: 'SESSION_PG_TABLE', flag: '--session-pg-table', default: 'sessions', help: 'PostgreSQL sessions table (created and migrated at start)' },
  secret: {
    env: 'SESSION_SECRET',
    flag: '--session-secret',
    default: '',
    help: 'comma-separated signing secrets, each >= 32 characters; the first signs, all verify. Unset outside production: generated and kept beside the database',
  },
  cookieName: { env: 'SESSION_COOKIE_NAME', flag: '--session-cookie-name', default: sessionDefaults.cookieName, help: 'session cookie name' },
  secure: {
    env: 'SESSION_COOKIE_SECURE',
    flag: '--session-cookie-secure',
    default: String(sessionDefaults.secure),
    help: 'auto (Secure over https) | true (never sent over plain http) | force | false',
  },
  trustProxy: {
    env: 'TRUST_PROXY',
    flag: '--trust-proxy',
    default: String(sessionDefaults.trustProxy),
    help: 'number of reverse proxies to trust for X-Forwarded-For and X-Forwarded-Proto (0: trust none)',
  },
  floodThreshold: {
    env: 'SESSION_FLOOD_THRESHOLD',
    flag: '--session-flood-threshold',
    default: String(sessionDefaults.flood.threshold),
    help: 'new sessions plus bad cookies per client address per window past which a flood is logged and counted (0 turns it off)',
  },
  floodWindow: {
    env: 'SESSION_FLOOD_WINDOW',
    flag: '--session-flood-window',
    default: String(sessionDefaults.flood.windowSeconds),
    help: 'seconds of the flood-counting window',
  },
  floodBlock: {
    env: 'SESSION_FLOOD_BLOCK',
    flag: '--session-flood-block',
    default: String(sessionDefaults.flood.blockSeconds),
    help: 'opt-in blocking: seconds an address that sent more bad (forged, malformed) cookies than the threshold is served without new sessions; 0 never blocks',
  },
  logFormat: { env: 'LOG_FORMAT', flag: '--log-format', default: 'pretty', help: 'pretty | json' },
  logLevel: { env: 'LOG_LEVEL', flag: '--log-level', default: 'info', help: 'debug | info | warn | error' },
  metricsPort: {
    env: 'METRICS_PORT',
    flag: '--metrics-port',
    default: '',
    help: 'serve Prometheus /metrics on this port, on its own listener (0 picks a free one); unset: /metrics is not served',
  },
  metricsHost: {
    env: 'METRICS_HOST',
    flag: '--metrics-host',
    default: '127.0.0.1',
    help: 'address of the /metrics listener',
  },
  idleTimeout: {
    env: 'SESSION_IDLE_TIMEOUT',
    flag: '--session-idle-timeout',
    default: String(sessionDefaults.idleTimeout),
    help: 'seconds of inactivity before a session expires',
  },
  absoluteTimeout: {
    env: 'SESSION_ABSOLUTE_TIMEOUT',
    flag: '--session-absolute-timeout',
    default: String(sessionDefaults.absoluteTimeout),
    help: 'seconds after creation before a session expires, however active',
  },
  touchInterval: {
    env: 'SESSION_TOUCH_INTERVAL',
    flag: '--session-touch-interval',
    default: String(sessionDefaults.touchInterval),
    help: 'the idle deadline and the cookie are refreshed at most this often (seconds; at most half the idle timeout)',
  },
  maxBytes: {
    env: 'SESSION_MAX_BYTES',
    flag: '--session-max-bytes',
    default: String(sessionDefaults.maxBytes),
    help: 'largest serialised session, in bytes',
  },
  pruneInterval: {
    env: 'SESSION_PRUNE_INTERVAL',
    flag: '--session-prune-interval',
    default: '60',
    help: 'seconds between sweeps of expired sessions (0 turns it off)',
  },
  busyTimeout: {
    env: 'SESSION_DB_BUSY_TIMEOUT',
    flag: '--session-db-busy-timeout',
    default: '5000',
    help: 'milliseconds a write waits for another process holding the SQLite lock',
  },
  cacheRows: {
    env: 'SESSION_DB_CACHE_ROWS',
    flag: '--session-db-cache-rows',
    default: '20000',
    help: 'SQLite rows kept in memory (a few hundred bytes each) so returning visitors cost no read; 0 turns it off',
  },
} satisfies Record<string, Setting>

/** The session stores the server can open, by SESSION_STORE. */
const STORES = ['sqlite', 'memory', 'redis', 'redis-cluster', 'redis-sentinel', 'postgres'] as const

export type Config = {
  port: number
  host: string
  store: (typeof STORES)[number]
  db: string
  redisUrl: string
  redisPrefix: string
  redisClusterNodes: string[]
  redisSentinels: string[]
  redisSentinelMaster: string
  redisReplicaWait: number
  postgres: { url: string; poolSize: number; schema: string; table: string }
  /** Empty when unset: the entry point generates or loads one (see secrets.ts). */
  secrets: string[]
  cookieName: string
  secure: boolean | 'auto' | 'force'
  trustProxy: number
  flood: { threshold: number; windowSeconds: number; blockSeconds: number }
  logFormat: LogFormat
  logLevel: LogLevel
  /** The separate /metrics listener; `port` undefined: none (the public listener never serves /metrics). */
  metrics: { port: number | undefined; host: string }
  idleTimeout: number
  absoluteTimeout: number
  touchInterval: number
  maxBytes: number
  pruneInterval: number
  busyTimeout: number
  cacheRows: number
  production: boolean
}

type Raw = Record<keyof typeof SETTINGS, string>

/** Settings from `env`, overridden by `--flag value` / `--flag=value` in `args`. */
export function parseConfig(args: readonly string[], env: Record<string, string | undefined>): Config {
  const raw = {} as Raw
  for (const [name, setting] of Object.entries(SETTINGS) as [keyof Raw, Setting][]) {
    raw[name] = env[setting.env] ?? setting.default
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg]
    const name = (Object.keys(SETTINGS) as (keyof Raw)[]).find((key) => SETTINGS[key].flag === flag)
    if (!name) throw new ConfigError(`unknown argument ${JSON.stringify(arg)} (see --help)`)
    const value = inline ?? args[++i]
    if (value === undefined) throw new ConfigError(`${flag} needs a value`)
    raw[name] = value
  }
  const store = raw.store.trim().toLowerCase()
  if (!(STORES as readonly string[]).includes(store)) {
    throw new ConfigError(`SESSION_STORE must be ${STORES.slice(0, -1).join(', ')} or ${STORES.at(-1)}, not ${JSON.stringify(raw.store)}`)
  }
  const redisClusterNodes = raw.redisClusterNodes.split(',').map((s) => s.trim()).filter(Boolean)
  if (store === 'redis-cluster' && (redisClusterNodes.length === 0 || !redisClusterNodes.every((node) => /^rediss?:\/\/[^/]+:\d+\/?$/.test(node)))) {
    throw new ConfigError('REDIS_CLUSTER_NODES must be comma-separated redis://host:port seeds (credentials not shown)')
  }
  const redisSentinels = raw.redisSentinels.split(',').map((s) => s.trim()).filter(Boolean)
  if (store === 'redis-sentinel' && (redisSentinels.length === 0 || !redisSentinels.every((node) => /^(rediss?:\/\/)?[^/]+:\d+\/?$/.test(node)))) {
    throw new ConfigError('REDIS_SENTINELS must be comma-separated host:port sentinels (credentials not shown)')
  }
  if (store === 'postgres' && !/^(postgres|postgresql):\/\/./.test(raw.databaseUrl.trim())) {
    throw new ConfigError('DATABASE_URL must look like postgres://user@host:port/database (credentials not shown)')
  }
  for (const name of ['pgSchema', 'pgTable'] as const) {
    if (!/^[a-z_][a-z0-9_]{0,47}$/.test(raw[name])) {
      throw new ConfigError(`${SETTINGS[name].env} must be lower-case letters, digits and _ (at most 48), not ${JSON.stringify(raw[name])}`)
    }
  }
  if (store === 'redis' && !/^(redis|rediss|valkey|valkeys)(\+tls)?(\+unix)?:\/\/./.test(raw.redisUrl.trim())) {
    throw new ConfigError('REDIS_URL must look like redis://host:port or rediss://host:port (credentials not shown)')
  }
  const secure = raw.secure.trim().toLowerCase()
  if (!['auto', 'true', 'false', 'force'].includes(secure)) {
    throw new ConfigError(`SESSION_COOKIE_SECURE must be auto, true, false or force, not ${JSON.stringify(raw.secure)}`)
  }
  const logFormat = raw.logFormat.trim().toLowerCase() as LogFormat
  if (logFormat !== 'pretty' && logFormat !== 'json') {
    throw new ConfigError(`LOG_FORMAT must be pretty or json, not ${JSON.stringify(raw.logFormat)}`)
  }
  const logLevel = raw.logLevel.trim().toLowerCase() as LogLevel
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(raw.logLevel)}`)
  }
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(raw.cookieName)) {
    throw new ConfigError(`SESSION_COOKIE_NAME ${JSON.stringify(raw.cookieName)} is not a valid cookie name`)
  }
  if (raw.db.trim() === '') throw new ConfigError('SESSION_DB must not be empty')
  if (/[/\\]$/.test(raw.db)) throw new ConfigError(`SESSION_DB names the database file, not a folder: ${JSON.stringify(raw.db)}`)
  const secrets = raw.secret.split(',').map((s) => s.trim())
  if (raw.secret.trim() !== '' && secrets.includes('')) {
    throw new ConfigError('SESSION_SECRET holds an empty secret (between, before or after a comma): give comma-separated secrets of at least 32 characters')
  }
  const port = integer('port', raw.port, 0, 65_535)
  const idleTimeout = integer('idleTimeout', raw.idleTimeout, 1)
  return {
    port,
    host: nonEmpty('host', raw.host),
    store: store as Config['store'],
    db: raw.db,
    redisUrl: raw.redisUrl.trim(),
    redisPrefix: store.startsWith('redis') ? nonEmpty('redisPrefix', raw.redisPrefix) : raw.redisPrefix,
    redisClusterNodes,
    redisSentinels,
    redisSentinelMaster: raw.redisSentinelMaster.trim(),
    redisReplicaWait: integer('redisReplicaWait', raw.redisReplicaWait, 0, 60_000),
    postgres: { url: raw.databaseUrl.trim(), poolSize: integer('pgPool', raw.pgPool, 1, 1000), schema: raw.pgSchema, table: raw.pgTable },
    secrets: secrets.filter(Boolean),
    cookieName: raw.cookieName,
    secure: secure === 'auto' || secure === 'force' ? secure : secure === 'true',
    trustProxy: integer('trustProxy', raw.trustProxy, 0, 16),
    flood: {
      threshold: integer('floodThreshold', raw.floodThreshold, 0),
      windowSeconds: integer('floodWindow', raw.floodWindow, 1),
      blockSeconds: integer('floodBlock', raw.floodBlock, 0),
    },
    logFormat,
    logLevel,
    metrics: {
      port: raw.metricsPort.trim() === '' ? undefined : integer('metricsPort', raw.metricsPort, 0, 65_535),
      host: nonEmpty('metricsHost', raw.metricsHost),
    },
    idleTimeout,
    absoluteTimeout: integer('absoluteTimeout', raw.absoluteTimeout, 1),
    touchInterval: integer('touchInterval', raw.touchInterval, 0),
    maxBytes: integer('maxBytes', raw.maxBytes, 64),
    pruneInterval: integer('pruneInterval', raw.pruneInterval, 0),
    busyTimeout: integer('busyTimeout', raw.busyTimeout, 0),
    cacheRows: integer('cacheRows', raw.cacheRows, 0),
    // Read at run time from the real environment: a compiled build inlines process.env.NODE_ENV.
    production: env.NODE_ENV === 'production',
  }
}

function integer(name: keyof typeof SETTINGS, text: string, min: number, max = 2 ** 31 - 1): number {
  const value = Number(text.trim())
  if (!/^\d+$/.test(text.trim()) || !Number.isInteger(value) || value < min || value > max) {
    const { env, flag } = SETTINGS[name]
    throw new ConfigError(`${env} (${flag}) must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`)
  }
  return value
}

function nonEmpty(name: keyof typeof SETTINGS, text: string): string {
  if (text.trim() === '') throw new ConfigError(`${SETTINGS[name].env} (${SETTINGS[name].flag}) must not be empty`)
  return text.trim()
}

/** The text of `--help`: commands, then every setting with its variable, flag and default. */
export function helpText(): string {
  const rows = Object.values(SETTINGS).map(
    (s: Setting) => `  ${s.flag.padEnd(28)} ${s.env.padEnd(26)} ${s.help}${s.default ? ` (default: ${s.default})` : ''}`
  )
  return [
    'session-counter: a view counter on server-side sessions (Elysia on Bun)',
    '',
    'Usage:',
    '  session-counter [flags]          start the server',
    '  session-counter healthcheck      exit 0 when the server on HOST:PORT answers /healthz, else 1',
    '  session-counter secret generate  print a new random secret for SESSION_SECRET',
    ...ADMIN_USAGE.map((line) => `  ${line}`),
    '  session-counter --help           this text',
    '',
    'Settings (flags win over environment variables):',
    `  ${'flag'.padEnd(28)} ${'variable'.padEnd(26)} meaning`,
    ...rows,
    '  NODE_ENV=production requires SESSION_SECRET.',
  ].join('\n')
}
