/**
 * Scaling out: two instances of the compiled binary share one Redis (a private redis-server with
 * an fsynced append-only file). A client alternating between them counts without a gap, parallel
 * requests are exact, and a Redis outage is a fast 503 that heals by itself when Redis is back.
 * Figures are printed for the README's "Scaling out" section.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { buildBinary, client, startServer, tempDir, SECRET, type Server } from './helpers'
import { redisReady, startOwnRedis, type OwnRedis } from '../packages/elysia-server-session/tests/redis-helpers'

const ready = await redisReady('scale-out tests', true, false)
const N = 200
const PASSWORD = 'pw-0123456789'

describe.skipIf(!ready)('two instances on one Redis', () => {
  const dir = tempDir('scale-out-')
  let binary = ''
  let redis: OwnRedis
  let servers: Server[] = []
  const figures: string[] = []
  const note = (line: string) => figures.push(line)

  beforeAll(async () => {
    binary = await buildBinary()
    redis = await startOwnRedis({ dir, password: PASSWORD })
    const env = { SESSION_STORE: 'redis', REDIS_URL: redis.url, SESSION_SECRET: SECRET, SESSION_REDIS_PREFIX: `scale:${process.pid}:` }
    servers = await Promise.all([startServer([binary], { cwd: dir, env }), startServer([binary], { cwd: dir, env })])
  }, 120_000)

  afterAll(async () => {
    for (const { proc } of servers) proc.kill('SIGKILL')
    await redis?.stop()
    if (figures.length > 0) console.log(`\nscale-out figures (2 instances, N = ${N}):\n  ${figures.join('\n  ')}\n`)
  })

  /** A cookie-keeping client whose i-th request goes to instance i % 2. */
  const alternating = () => {
    let i = 0
    return client((path, init) => fetch(servers[i++ % 2]!.base + path, init))
  }
  const text = async (response: Response) => [response.status, await response.text()] as const

  test('without SESSION_SECRET, SESSION_STORE=redis is a configuration error (exit 2)', () => {
    const result = Bun.spawnSync([binary], { env: { PORT: '0', SESSION_STORE: 'redis', REDIS_URL: redis.url }, cwd: dir, stderr: 'pipe' })
    expect(result.exitCode).toBe(2)
    expect(result.stderr.toString()).toContain('SESSION_SECRET is required with SESSION_STORE=redis: all instances must share it')
  })

  test(`a client alternating between the instances counts 1..${N} without a gap`, async () => {
    const c = alternating()
    const started = performance.now()
    for (let views = 1; views <= N; views++) {
      const expected = views === 1 ? 'Welcome to this page for the first time!' : `You visited this page ${views} times`
      expect(await text(await c.request('/'))).toEqual([200, expected])
    }
    const ms = performance.now() - started
    note(`${N} sequential requests alternating between instances: ${ms.toFixed(0)} ms (${(ms / N).toFixed(2)} ms each)`)
  }, 30_000)

  test(`${N} parallel requests over both instances raise the count by exactly ${N}`, async () => {
    const c = alternating()
    await c.request('/') // 1: the session exists
    const started = performance.now()
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) => fetch(servers[i % 2]!.base + '/', { headers: { cookie: c.cookie! } }).then(text))
    )
    const ms = performance.now() - started
    expect(responses.every(([status]) => status === 200)).toBe(true)
    const counts = responses.map(([, body]) => Number(/visited this page (\d+) times/.exec(body)?.[1]))
    expect(new Set(counts).size).toBe(N)
    expect(counts.toSorted((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 2))
    expect(await text(await c.request('/'))).toEqual([200, `You visited this page ${N + 2} times`])
    note(`${N} parallel requests on one session over both instances: ${ms.toFixed(0)} ms, counts ${counts.length} distinct`)
  }, 30_000)

  test('Redis down: a fast 503 with a clear body, /readyz 503; Redis back: both serve again, count kept', async () => {
    const c = alternating()
    expect(await text(await c.request('/'))).toEqual([200, 'Welcome to this page for the first time!'])
    expect(await text(await c.request('/'))).toEqual([200, 'You visited this page 2 times'])
    await redis.kill()

    const latencies: number[] = []
    for (let i = 0; i < 10; i++) {
      const started = performance.now()
      const response = await c.request('/')
      latencies.push(performance.now() - started)
      expect(response.status).toBe(503)
      expect(await response.text()).toContain('Session storage is unavailable; nothing was saved')
      expect(response.headers.get('retry-after')).toBe('1')
      expect(response.headers.getSetCookie()).toEqual([])
    }
    for (const { base } of servers) expect((await fetch(base + '/readyz')).status).toBe(503)
    expect(Math.max(...latencies)).toBeLessThan(600)
    const sorted = latencies.toSorted((a, b) => a - b)
    note(`Redis down: GET / answered 503 in ${sorted[0]!.toFixed(1)}-${sorted.at(-1)!.toFixed(1)} ms (median ${sorted[5]!.toFixed(1)} ms)`)

    const restarted = performance.now()
    await redis.restart()
    const redisUp = performance.now()
    for (;;) {
      const [status, body] = await text(await c.request('/'))
      if (status === 200) {
        // The append-only file was fsynced on every write: the count survived the crash.
        expect(body).toBe('You visited this page 3 times')
        break
      }
      if (performance.now() - redisUp > 5000) throw new Error('service did not resume within 5 s')
      await Bun.sleep(10)
    }
    note(`Redis restarted: redis-server up after ${(redisUp - restarted).toFixed(0)} ms, GET / served ${(performance.now() - redisUp).toFixed(0)} ms later`)
    expect(await text(await c.request('/'))).toEqual([200, 'You visited this page 4 times'])
    for (const { base } of servers) expect((await fetch(base + '/readyz')).status).toBe(200)
  }, 30_000)

  test('SIGTERM: both exit 0; the start line names the store and the Redis URL without its password', async () => {
    for (const { proc } of servers) proc.kill('SIGTERM')
    expect(await Promise.all(servers.map(({ proc }) => proc.exited))).toEqual([0, 0])
    for (const { proc } of servers) {
      const log = await new Response(proc.stderr).text()
      expect(log).toContain(`(store redis, redis://default:***@127.0.0.1:${redis.port})`)
      expect(log).not.toContain(PASSWORD)
    }
  }, 15_000)
})
