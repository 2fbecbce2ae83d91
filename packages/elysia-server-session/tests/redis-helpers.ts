/**
 * Redis for tests: the shared server (REDIS_URL, default redis://127.0.0.1:6379) for suites that
 * only need one, and private redis-server processes on free ports for tests that stop them.
 * When Redis is unreachable, tests are skipped with a loud notice; with CI set they fail instead.
 */
import { RedisClient } from 'bun'
import { freePort } from './helpers'

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379'
/** A prefix unique to this test run; `deleteKeys` removes everything under it. */
export const RUN_PREFIX = `test:${process.pid}:${Date.now().toString(36)}:`

async function answers(url: string): Promise<boolean> {
  const client = new RedisClient(url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 1000 })
  try {
    await client.connect()
    return (await client.send('PING', [])) === 'PONG'
  } catch {
    return false
  } finally {
    client.close()
  }
}

const hasRedisServer = (() => {
  try {
    return Bun.spawnSync(['redis-server', '--version'], { stdout: 'ignore', stderr: 'ignore' }).success
  } catch {
    return false
  }
})()

/**
 * Whether Redis tests can run: the shared server answers and, when `ownServers`, the redis-server
 * binary exists. Otherwise throws under CI, or prints a loud notice and returns false.
 */
export async function redisReady(suite: string, ownServers = false, shared = true): Promise<boolean> {
  const missing = shared && !(await answers(REDIS_URL))
    ? `no Redis answers at ${REDIS_URL}`
    : ownServers && !hasRedisServer
      ? 'the redis-server binary is not installed'
      : ''
  if (!missing) return true
  if (process.env.CI) throw new Error(`${suite}: ${missing}, and CI is set: Redis tests must run`)
  console.warn(`\n!!! ${suite}: SKIPPED, ${missing} (set REDIS_URL, or CI=1 to make this a failure) !!!\n`)
  return false
}

/** Deletes every key under `prefix` (SCAN + DEL) on `url`. */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const client = new RedisClient(url)
  let deleted = 0
  let cursor = '0'
  try {
    do {
      const [next, keys]: [string, string[]] = await client.send('SCAN', [cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'])
      cursor = next
      if (keys.length > 0) deleted += await client.send('DEL', keys)
    } while (cursor !== '0')
  } finally {
    client.close()
  }
  return deleted
}

export type OwnRedis = {
  port: number
  url: string
  /** SIGKILL, like a crash; resolves once the process is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port; resolves once it answers. */
  restart(): Promise<void>
  pause(): void
  resume(): void
  stop(): Promise<void>
}

/**
 * A private redis-server on a free port. Without `dir`, no persistence; with it, an append-only
 * file fsynced on every write, so a SIGKILL loses nothing acknowledged. Stop it with `stop()`.
 */
export async function startOwnRedis(options: { dir?: string; password?: string } = {}): Promise<OwnRedis> {
  const port = await freePort()
  const url = `redis://${options.password ? `default:${options.password}@` : ''}127.0.0.1:${port}`
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '']
  args.push(...(options.dir ? ['--dir', options.dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']))
  if (options.password) args.push('--requirepass', options.password)
  let proc: Bun.Subprocess
  const spawn = async () => {
    proc = Bun.spawn(['redis-server', ...args], { stdout: 'ignore', stderr: 'ignore' })
    const deadline = Date.now() + 5000
    while (!(await answers(url))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`)
      await Bun.sleep(20)
    }
  }
  await spawn()
  const kill = async () => {
    proc.kill('SIGKILL')
    await proc.exited
  }
  return {
    port,
    url,
    kill,
    restart: spawn,
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
    stop: kill,
  }
}
