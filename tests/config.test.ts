import { describe, expect, test } from 'bun:test'
import { ConfigError, SETTINGS, helpText, parseConfig } from '../src/config'

describe('configuration', () => {
  test('defaults', () => {
    expect(parseConfig([], {})).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      store: 'sqlite',
      db: './data/sessions.db',
      secrets: [],
      cookieName: 'id',
      secure: 'auto',
      idleTimeout: 1800,
      absoluteTimeout: 86400,
      production: false,
    })
  })

  test('flags win over the environment, in both spellings', () => {
    const env = { PORT: '4000', SESSION_DB: '/env.db', SESSION_SECRET: 'a'.repeat(32) + ', ' + 'b'.repeat(40) }
    const config = parseConfig(['--port', '5000', '--session-db=/flag.db', '--session-cookie-secure', 'true'], env)
    expect(config).toMatchObject({ port: 5000, db: '/flag.db', secure: true })
    expect(config.secrets).toEqual(['a'.repeat(32), 'b'.repeat(40)])
  })

  test('numbers are plain decimal whole numbers: hex, exponents and signs are errors, not other values', () => {
    for (const text of ['0x10', '1e3', '+5', ' 0b11', '1_000', '0o7']) {
      expect(() => parseConfig([], { SESSION_IDLE_TIMEOUT: text })).toThrow(/SESSION_IDLE_TIMEOUT.*whole number/)
    }
    expect(parseConfig([], { SESSION_IDLE_TIMEOUT: ' 90 ' }).idleTimeout).toBe(90)
  })

  test('an empty Redis prefix is an error (the store would own the whole database)', () => {
    expect(() => parseConfig([], { SESSION_STORE: 'redis', SESSION_REDIS_PREFIX: '' })).toThrow(/SESSION_REDIS_PREFIX/)
  })

  test('SESSION_DB names a file: a folder (a trailing slash) is an error', () => {
    expect(() => parseConfig([], { SESSION_DB: '/tmp/x/dir/' })).toThrow(/SESSION_DB.*file/)
  })

  test('the SQLite row cache size: 20,000 by default (10,000 returning visitors whole), 0 turns it off', () => {
    expect(parseConfig([], {}).cacheRows).toBe(20_000)
    expect(parseConfig([], { SESSION_DB_CACHE_ROWS: '0' }).cacheRows).toBe(0)
    expect(parseConfig(['--session-db-cache-rows=250'], { SESSION_DB_CACHE_ROWS: '0' }).cacheRows).toBe(250)
  })

  test('the flood guard detects by default and blocks only when asked to', () => {
    expect(parseConfig([], {}).flood).toEqual({ threshold: 600, windowSeconds: 60, blockSeconds: 0 })
    expect(parseConfig(['--session-flood-block', '300'], {}).flood.blockSeconds).toBe(300)
    expect(parseConfig([], { SESSION_FLOOD_THRESHOLD: '0' }).flood.threshold).toBe(0)
  })

  test('the /metrics listener: off by default, on METRICS_PORT, loopback unless METRICS_HOST says otherwise', () => {
    expect(parseConfig([], {}).metrics).toEqual({ port: undefined, host: '127.0.0.1' })
    expect(parseConfig([], { METRICS_PORT: '9100' }).metrics).toEqual({ port: 9100, host: '127.0.0.1' })
    expect(parseConfig(['--metrics-port=0', '--metrics-host', '10.0.0.5'], { METRICS_PORT: '9100' }).metrics).toEqual({ port: 0, host: '10.0.0.5' })
  })

  test('PostgreSQL: SESSION_STORE=postgres, DATABASE_URL or --database-url, pool, schema and table', () => {
    expect(parseConfig([], {}).postgres).toEqual({ url: 'postgres://postgres@127.0.0.1:5432/postgres', poolSize: 10, schema: 'public', table: 'sessions' })
    const env = { SESSION_STORE: 'postgres', DATABASE_URL: 'postgres://app:pw@db:5432/app', SESSION_PG_POOL: '4', SESSION_PG_TABLE: 'web_sessions' }
    const config = parseConfig(['--database-url', 'postgresql://other@db2/x', '--session-pg-schema=auth'], env)
    expect(config).toMatchObject({ store: 'postgres', postgres: { url: 'postgresql://other@db2/x', poolSize: 4, schema: 'auth', table: 'web_sessions' } })
  })

  test('Redis Cluster and Sentinel: seed and sentinel lists, the master name, the replica wait', () => {
    const cluster = parseConfig([], { SESSION_STORE: 'redis-cluster', REDIS_CLUSTER_NODES: ' redis://10.0.0.1:7000, redis://u:p@10.0.0.2:7001 ' })
    expect(cluster).toMatchObject({ store: 'redis-cluster', redisClusterNodes: ['redis://10.0.0.1:7000', 'redis://u:p@10.0.0.2:7001'], redisReplicaWait: 0 })
    const sentinel = parseConfig(['--session-redis-replica-wait', '250'], { SESSION_STORE: 'redis-sentinel', REDIS_SENTINELS: '10.0.0.1:26379,10.0.0.2:26379', REDIS_SENTINEL_MASTER: 'sessions' })
    expect(sentinel).toMatchObject({ redisSentinels: ['10.0.0.1:26379', '10.0.0.2:26379'], redisSentinelMaster: 'sessions', redisReplicaWait: 250 })
  })

  test('every setting is in --help with its variable and default', () => {
    const help = helpText()
    for (const setting of Object.values(SETTINGS)) {
      expect(help).toContain(setting.flag)
      expect(help).toContain(setting.env)
      if (setting.default) expect(help).toContain(`(default: ${setting.default})`)
    }
  })

  const bad: [string, string[], Record<string, string>, RegExp][] = [
    ['a port that is not a number', [], { PORT: 'abc' }, /PORT \(--port\) must be a whole number/],
    ['a port out of range', ['--port', '70000'], {}, /must be a whole number from 0 to 65535/],
    ['an unknown store', [], { SESSION_STORE: 'mongo' }, /SESSION_STORE must be/],
    ['an unknown flag', ['--nope'], {}, /unknown argument "--nope"/],
    ['a flag without its value', ['--port'], {}, /--port needs a value/],
    ['a bad Secure value', [], { SESSION_COOKIE_SECURE: 'yes' }, /SESSION_COOKIE_SECURE must be auto, true, false or force/],
    ['a bad cookie name', [], { SESSION_COOKIE_NAME: 'a b;' }, /not a valid cookie name/],
    ['a zero idle timeout', [], { SESSION_IDLE_TIMEOUT: '0' }, /SESSION_IDLE_TIMEOUT/],
    ['a negative prune interval', [], { SESSION_PRUNE_INTERVAL: '-1' }, /SESSION_PRUNE_INTERVAL/],
    ['a fractional size', [], { SESSION_MAX_BYTES: '1.5' }, /SESSION_MAX_BYTES/],
    ['an unknown log format', [], { LOG_FORMAT: 'xml' }, /LOG_FORMAT must be pretty or json/],
    ['an unknown log level', [], { LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of debug, info, warn, error/],
    ['a negative proxy count', [], { TRUST_PROXY: '-1' }, /TRUST_PROXY/],
    ['a negative flood block', [], { SESSION_FLOOD_BLOCK: '-1' }, /SESSION_FLOOD_BLOCK \(--session-flood-block\) must be a whole number from 0/],
    ['a zero flood window', [], { SESSION_FLOOD_WINDOW: '0' }, /SESSION_FLOOD_WINDOW/],
    ['a cache size that is not a number', [], { SESSION_DB_CACHE_ROWS: 'many' }, /SESSION_DB_CACHE_ROWS \(--session-db-cache-rows\) must be a whole number/],
    ['a negative cache size', ['--session-db-cache-rows', '-5'], {}, /SESSION_DB_CACHE_ROWS/],
    ['a metrics port out of range', [], { METRICS_PORT: '65536' }, /METRICS_PORT \(--metrics-port\) must be a whole number from 0 to 65535/],
    ['an empty metrics host', ['--metrics-host='], {}, /METRICS_HOST \(--metrics-host\) must not be empty/],
    ['an empty HOST', [], { HOST: ' ' }, /HOST \(--host\) must not be empty/],
    ['secrets that are only commas and spaces', [], { SESSION_SECRET: ' , ,' }, /SESSION_SECRET holds an empty secret/],
    ['a secret list with an empty entry', [], { SESSION_SECRET: `${'a'.repeat(32)},,${'b'.repeat(32)}` }, /SESSION_SECRET holds an empty secret/],
    ['a DATABASE_URL that is not postgres://', [], { SESSION_STORE: 'postgres', DATABASE_URL: 'mysql://db/x' }, /DATABASE_URL must look like postgres:/],
    ['a pool of 0', [], { SESSION_PG_POOL: '0' }, /SESSION_PG_POOL \(--session-pg-pool\) must be a whole number from 1 to 1000/],
    ['a table name that needs quoting', [], { SESSION_PG_TABLE: 'Sessions"; DROP' }, /SESSION_PG_TABLE must be lower-case letters/],
    ['an empty schema name', ['--session-pg-schema='], {}, /SESSION_PG_SCHEMA must be lower-case letters/],
    ['a cluster without seeds', [], { SESSION_STORE: 'redis-cluster' }, /REDIS_CLUSTER_NODES must be comma-separated redis:\/\/host:port/],
    ['a cluster seed that is not a URL', [], { SESSION_STORE: 'redis-cluster', REDIS_CLUSTER_NODES: 'redis://a:1,b:2' }, /REDIS_CLUSTER_NODES/],
    ['Sentinel without sentinels', [], { SESSION_STORE: 'redis-sentinel' }, /REDIS_SENTINELS must be comma-separated host:port/],
    ['a negative replica wait', [], { SESSION_REDIS_REPLICA_WAIT: '-1' }, /SESSION_REDIS_REPLICA_WAIT/],
  ]
  for (const [what, args, env, message] of bad) {
    test(`${what} is a ConfigError with a clear message`, () => {
      expect(() => parseConfig(args, env)).toThrow(ConfigError)
      expect(() => parseConfig(args, env)).toThrow(message)
    })
  }
})

test('the README documents every setting', async () => {
  const readme = await Bun.file(new URL('../README.md', import.meta.url)).text()
  for (const setting of Object.values(SETTINGS)) {
    expect(readme).toContain(`| \`${setting.env}\` | \`${setting.flag}\` |`)
  }
})
