/** Shared test helpers: temp folders, cookies, free ports, the compiled binary. */
import { statSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { freePort } from '../packages/elysia-server-session/tests/helpers'

export { cookieClient as client, cookieOf, handleWith } from 'elysia-server-session/testing'
// Secrets, temp folders, free ports and cookie IDs are the library tests' own: one copy for both.
export { OLD_SECRET, SECRET, freePort, idOf, tempDir } from '../packages/elysia-server-session/tests/helpers'

export const ROOT = join(import.meta.dir, '..')

const BINARY = join(ROOT, 'dist', 'session-counter')

function newestSource(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs)
  }
  return newest
}

/** The compiled binary, built with `bun run build` when missing or older than the sources. */
export async function buildBinary(): Promise<string> {
  let built = 0
  try {
    built = statSync(BINARY).mtimeMs
  } catch {}
  if (built < Math.max(newestSource(join(ROOT, 'src')), newestSource(join(ROOT, 'packages', 'elysia-server-session', 'src')), statSync(join(ROOT, 'package.json')).mtimeMs)) {
    const build = Bun.spawnSync(['bun', 'run', 'build'], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
    if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`)
  }
  return BINARY
}

/** Polls `url` until it answers 200 or `timeoutMs` passes. */
export async function waitForOk(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      if ((await fetch(url)).ok) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`)
    await Bun.sleep(20)
  }
}

export type Server = { proc: Bun.Subprocess<'ignore', 'pipe', 'pipe'>; base: string; port: number }

/** Starts `command` (the binary, maybe behind a wrapper) on a free port; resolves once /healthz answers. */
export async function startServer(command: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Server> {
  const port = await freePort()
  const proc = Bun.spawn(command, {
    cwd: options.cwd,
    env: { PATH: '/usr/bin:/bin:/usr/sbin:/sbin', PORT: String(port), HOST: '127.0.0.1', ...options.env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  try {
    await waitForOk(`http://127.0.0.1:${port}/healthz`)
  } catch (error) {
    proc.kill('SIGKILL')
    throw new Error(`${String(error)}; stderr: ${await new Response(proc.stderr).text()}`)
  }
  return { proc, base: `http://127.0.0.1:${port}`, port }
}
