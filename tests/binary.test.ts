/**
 * The compiled binary end to end: built once, copied alone into an empty folder, run as a
 * subprocess (as root and as an unprivileged user, the way the container runs it).
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { buildBinary, client, freePort, idOf, startServer, tempDir, waitForOk, SECRET } from './helpers'

const dir = tempDir('binary-test-')
let binary = ''
beforeAll(async () => {
  const built = await buildBinary()
  binary = join(dir, 'bin', 'session-counter')
  mkdirSync(join(dir, 'bin'))
  copyFileSync(built, binary)
  chmodSync(binary, 0o755)
}, 120_000)

const start = (cwd: string, env: Record<string, string>, prefix: string[] = []) =>
  startServer([...prefix, binary], { cwd, env })

const visit = (base: string) => client((path, init) => fetch(base + path, init))

describe('the compiled binary', () => {
  test('alone in an empty folder: counts, keeps a generated secret, exits 0 on SIGTERM', async () => {
    const cwd = join(dir, 'empty')
    mkdirSync(cwd)
    const { proc, base } = await start(cwd, {})
    const c = visit(base)
    expect(await (await c.request('/')).text()).toBe('Welcome to this page for the first time!')
    expect(await (await c.request('/')).text()).toBe('You visited this page 2 times')
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const log = await new Response(proc.stderr).text()
    expect(log).toContain('listening on http://127.0.0.1:')
    expect(log).toContain(join(cwd, 'data', 'sessions.db'))
    expect(log).toContain('SESSION_SECRET is unset')
    expect(log).not.toContain(idOf(c.cookie!))
    expect(statSync(join(cwd, 'data', 'session-secret')).mode & 0o777).toBe(0o600)

    // A restart on the same folder keeps the secret and the count.
    const again = await start(cwd, {})
    const c2 = visit(again.base)
    c2.cookie = c.cookie
    expect(await (await c2.request('/')).text()).toBe('You visited this page 3 times')
    again.proc.kill('SIGINT')
    expect(await again.proc.exited).toBe(0)
  }, 30_000)

  test('as a non-root user with a data folder that does not exist yet, in production', async () => {
    const home = join(dir, 'nonroot')
    mkdirSync(join(home, 'cwd'), { recursive: true })
    chownSync(home, 65532, 65532)
    chownSync(join(home, 'cwd'), 65532, 65532)
    chmodSync(dir, 0o755)
    const db = join(home, 'volume', 'sessions.db')
    const asUser = ['setpriv', '--reuid=65532', '--regid=65532', '--clear-groups']
    const env = { NODE_ENV: 'production', SESSION_SECRET: SECRET, SESSION_DB: db }
    const { proc, base, port } = await start(join(home, 'cwd'), env, asUser)
    const c = visit(base)
    expect(await (await c.request('/')).text()).toBe('Welcome to this page for the first time!')
    expect(await (await c.request('/')).text()).toBe('You visited this page 2 times')
    expect(statSync(db).uid).toBe(65532)
    expect(readdirSync(join(home, 'cwd'))).toEqual([])

    const check = (p: number) => Bun.spawnSync([...asUser, binary, 'healthcheck'], { env: { PORT: String(p) } }).exitCode
    expect(check(port)).toBe(0)
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    expect(check(port)).toBe(1)
  }, 30_000)

  test('CSRF: a cross-site POST /logout gets 403 and the count goes on; a same-origin one logs out', async () => {
    const cwd = join(dir, 'csrf')
    mkdirSync(cwd)
    const { proc, base } = await start(cwd, { SESSION_SECRET: SECRET, LOG_LEVEL: 'debug' })
    try {
      const c = visit(base)
      expect(await (await c.request('/')).text()).toBe('Welcome to this page for the first time!')
      for (const headers of <Record<string, string>[]>[{ 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }, { origin: 'http://evil.example' }, { 'sec-fetch-site': 'cross-site' }]) {
        const refused = await c.request('/logout', { method: 'POST', headers })
        expect(refused.status).toBe(403)
        expect(await refused.text()).toBe('Cross-origin request refused\n')
      }
      expect(await (await c.request('/')).text()).toBe('You visited this page 2 times')
      const loggedOut = await c.request('/logout', { method: 'POST', headers: { 'sec-fetch-site': 'same-origin', origin: base } })
      expect(await loggedOut.text()).toBe('Logged out')
      expect(await (await c.request('/')).text()).toBe('Welcome to this page for the first time!')
    } finally {
      proc.kill('SIGTERM')
      await proc.exited
    }
    const refusals = (await new Response(proc.stderr).text()).split('\n').filter((line) => line.includes('session csrf'))
    expect(refusals).toHaveLength(3)
    expect(refusals.filter((line) => line.includes('sec-fetch-site'))).toHaveLength(2)
    expect(refusals.filter((line) => line.includes('origin'))).toHaveLength(1)
  }, 30_000)

  test('configuration errors: one clear line on stderr and exit code 2', () => {
    const cases: [Record<string, string>, string[], RegExp][] = [
      [{ PORT: 'abc' }, [], /^session-counter: PORT \(--port\) must be a whole number/],
      [{}, ['--bogus'], /^session-counter: unknown argument "--bogus"/],
      [{ NODE_ENV: 'production' }, [], /SESSION_SECRET is required when NODE_ENV=production: set SESSION_SECRET/],
      [{ NODE_ENV: 'production', SESSION_SECRET: 'short' }, [], /shorter than 32 characters/],
      [{ SESSION_SECRET: SECRET, SESSION_DB: '/proc/version/sessions.db' }, [], /cannot open the session database \/proc\/version\/sessions\.db/],
      [{ SESSION_SECRET: ' , ,' }, [], /^session-counter: SESSION_SECRET holds an empty secret/],
      [{ SESSION_SECRET: `${SECRET},` }, [], /^session-counter: SESSION_SECRET holds an empty secret/],
      [{ SESSION_SECRET: SECRET, HOST: 'no such host' }, [], /^session-counter: cannot listen for requests on http:\/\/no such host:0 \(HOST\/PORT\): /],
      [{ SESSION_SECRET: SECRET, HOST: '' }, [], /^session-counter: HOST \(--host\) must not be empty/],
      [{ SESSION_SECRET: SECRET, METRICS_PORT: 'x' }, [], /^session-counter: METRICS_PORT \(--metrics-port\) must be a whole number/],
    ]
    for (const [env, args, message] of cases) {
      const result = Bun.spawnSync([binary, ...args], { env: { PORT: '0', SESSION_DB: join(dir, 'data', 'sessions.db'), ...env }, cwd: dir, stderr: 'pipe', timeout: 5000 })
      const stderr = result.stderr.toString()
      expect(result.exitCode).toBe(2)
      expect(stderr).toMatch(message)
      expect(stderr.trim().split('\n')).toHaveLength(1)
    }
    expect(existsSync(join(dir, 'data', 'session-secret'))).toBe(false)
  })

  /** Runs the binary against a port held by another listener: one line on stderr and exit 2. */
  const onTakenPort = (name: string, reusePort: boolean, env: (port: number) => Record<string, string>, line: (port: number) => string) =>
    test(name, () => {
      const taken = Bun.serve({ port: 0, hostname: '127.0.0.1', reusePort, fetch: () => new Response('taken') })
      try {
        const result = Bun.spawnSync([binary], {
          env: { HOST: '127.0.0.1', SESSION_SECRET: SECRET, SESSION_DB: join(dir, `taken-${taken.port}`, 'sessions.db'), ...env(taken.port!) },
          cwd: dir,
          stderr: 'pipe',
          timeout: 5000,
        })
        expect(result.stderr.toString()).toBe(`session-counter: ${line(taken.port!)}: the port is in use\n`)
        expect(result.exitCode).toBe(2)
      } finally {
        taken.stop(true)
      }
    })
  const requestsOn = (port: number) => `cannot listen for requests on http://127.0.0.1:${port} (HOST/PORT)`
  onTakenPort('a port in use: exit 2 with one line naming the address, no stack trace', false, (port) => ({ PORT: String(port) }), requestsOn)
  onTakenPort(
    'a port held by a listener that shares ports (SO_REUSEPORT, as a second instance would): exit 2, never two servers on one port',
    true,
    (port) => ({ PORT: String(port) }),
    requestsOn
  )
  onTakenPort(
    '/metrics on a port in use: exit 2 naming METRICS_HOST/METRICS_PORT, before the public listener says it listens',
    false,
    (port) => ({ PORT: '0', METRICS_PORT: String(port) }),
    (port) => `cannot listen for /metrics on http://127.0.0.1:${port} (METRICS_HOST/METRICS_PORT)`
  )

  test('one client cannot flood the log: per-session audit events are debug lines, off at the default level', async () => {
    const cwd = join(dir, 'quiet-log')
    mkdirSync(cwd)
    const { proc, base } = await start(cwd, { SESSION_SECRET: SECRET })
    try {
      for (let i = 0; i < 50; i++) await fetch(base + '/') // 50 new visitors
      for (let i = 0; i < 50; i++) await fetch(base + '/', { headers: { cookie: `id=forged${i}.sig` } })
    } finally {
      proc.kill('SIGTERM')
      await proc.exited
    }
    const lines = (await new Response(proc.stderr).text()).split('\n').filter(Boolean)
    expect(lines.filter((line) => / session (created|invalid|expired)/.test(line))).toEqual([])
    expect(lines.length).toBeLessThan(10)
  }, 30_000)

  test('/metrics: not on the public listener; on METRICS_PORT, bound to loopback by default', async () => {
    const cwd = join(dir, 'metrics')
    mkdirSync(cwd)
    const first = await start(cwd, { SESSION_SECRET: SECRET })
    await visit(first.base).request('/')
    expect((await fetch(first.base + '/metrics')).status).toBe(404)
    first.proc.kill('SIGTERM')
    expect(await first.proc.exited).toBe(0)

    const metricsPort = await freePort()
    const { proc, base } = await start(cwd, { SESSION_SECRET: SECRET, METRICS_PORT: String(metricsPort) })
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(response.status).toBe(200)
      return response.text()
    }
    // Counted once at start (off the event loop), then every 30 s: the session stored before this run.
    let text = await scrape()
    for (let i = 0; i < 100 && text.includes('sessions_stored NaN'); i++) text = (await Bun.sleep(20), await scrape())
    expect(text).toMatch(/\nsessions_stored 1\n/)
    await visit(base).request('/')
    expect((await fetch(base + '/metrics')).status).toBe(404)
    await Bun.sleep(10) // requests are counted after their reply
    expect(await scrape()).toContain('http_requests_total{route="/",status="200"} 1')
    expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404)
    proc.kill('SIGTERM')
    expect(await proc.exited).toBe(0)
    const log = await new Response(proc.stderr).text()
    expect(log).toContain(`metrics on http://127.0.0.1:${metricsPort}/metrics`)
  }, 30_000)

  test('healthcheck asks the server where HOST says (an IPv4 loopback address other than 127.0.0.1, and ::1)', async () => {
    for (const host of ['127.0.0.2', '::1']) {
      const port = await freePort()
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
      const proc = Bun.spawn([binary], {
        cwd: dir,
        env: { PORT: String(port), HOST: host, SESSION_SECRET: SECRET, SESSION_DB: join(dir, 'health', 'sessions.db') },
        stderr: 'pipe',
      })
      try {
        await waitForOk(`${url}/healthz`)
        const check = Bun.spawnSync([binary, 'healthcheck'], { env: { PORT: String(port), HOST: host } })
        expect(check.exitCode).toBe(0)
      } finally {
        proc.kill('SIGTERM')
        await proc.exited
      }
    }
  }, 30_000)

  test('no generated secret is ever written into /dev or /', () => {
    // A private mount namespace puts an empty folder over /dev: the refusal, not the device tree, is tested.
    const fake = join(dir, 'fake-dev')
    mkdirSync(fake)
    const script = `mount --bind '${fake}' /dev && exec "$0"`
    const result = Bun.spawnSync(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, binary], {
      env: { PORT: '0', SESSION_DB: '/dev/sessions.db', PATH: '/usr/bin:/bin' },
      cwd: dir,
      stderr: 'pipe',
      timeout: 5000,
    })
    expect(result.exitCode).toBe(2)
    expect(result.stderr.toString()).toMatch(/^session-counter: SESSION_SECRET is unset and SESSION_DB is in \/dev, where no secret file is written: .*\n$/)
    expect(existsSync(join(fake, 'session-secret'))).toBe(false)
  })

  test('--help lists the settings; secret generate prints a usable secret', () => {
    const help = Bun.spawnSync([binary, '--help'], { stdout: 'pipe' })
    expect(help.exitCode).toBe(0)
    expect(help.stdout.toString()).toContain('SESSION_SECRET')
    const secret = Bun.spawnSync([binary, 'secret', 'generate'], { stdout: 'pipe' })
    expect(secret.stdout.toString().trim()).toMatch(/^[A-Za-z0-9_-]{64}$/)
  })
})
