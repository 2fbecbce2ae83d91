/**
 * The package as users get it. `bun pm pack` (prepack builds dist/), then the tarball's contents,
 * then a fresh app in a temp folder outside the repo, once per Elysia we promise (the catalog's and
 * the peer range's low end, both from the registry): it installs the tarball, type-checks the
 * README's code blocks as they stand under `strict` and `exactOptionalPropertyTypes`, runs the
 * README's example and counts two visits with a cookie jar, runs the README's Map store through the
 * published conformance suite, and under Node fails to resolve the package.
 */
import { beforeAll, describe, expect, test } from 'bun:test'
import { appendFileSync, existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { freePort, tempDir } from './helpers'

const packageDir = join(import.meta.dir, '..')
const manifest = await Bun.file(join(packageDir, 'package.json')).json()
const catalog: Record<string, string> = (await Bun.file(join(packageDir, '../../package.json')).json()).workspaces.catalog
const lowestElysia = /^>=(\S+)/.exec(manifest.peerDependencies.elysia)![1]!
const work = tempDir('package-test-')
const SLOW = 180_000

async function run(cmd: string[], cwd: string, env: Record<string, string> = {}) {
  const proc = Bun.spawn(cmd, { cwd, env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
  return { code, out, err }
}

/** The README's first `ts` block as app.ts, and every block under `<!-- file: NAME -->` appended to NAME. */
function readmeFiles(readme: string): Map<string, string> {
  const files = new Map([['app.ts', /```ts\n([\s\S]*?)```/.exec(readme)![1]!]])
  for (const [, name, code] of readme.matchAll(/<!-- file: (\S+) -->\n```ts\n([\s\S]*?)```/g)) {
    files.set(name!, (files.get(name!) ?? '') + code)
  }
  return files
}

let tarball = ''
let entries: string[] = []
beforeAll(async () => {
  const packed = await run(['bun', 'pm', 'pack', '--destination', work, '--quiet'], packageDir)
  expect(packed).toMatchObject({ code: 0 })
  tarball = join(work, packed.out.trim().split('\n').at(-1)!.split('/').at(-1)!)
  const listing = await run(['tar', '-tzf', tarball], work)
  entries = listing.out.trim().split('\n').map((entry) => entry.replace(/^package\//, ''))
}, SLOW)

describe('the tarball', () => {
  test('holds the compiled entries with their .d.ts, the docs, and nothing else', async () => {
    for (const file of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) expect(entries).toContain(file)
    const targets = Object.values(manifest.exports as Record<string, string | Record<string, string>>).flatMap((target) =>
      typeof target === 'string' ? [target] : Object.values(target)
    )
    for (const target of targets) expect(entries).toContain(target.replace(/^\.\//, ''))
    const code = entries.filter((entry) => !['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'].includes(entry))
    expect(code.filter((entry) => !/^dist\/.+\.(js|d\.ts)$/.test(entry))).toEqual([])
    expect(code.filter((entry) => /(^|\/)tests?\/|\.test\./.test(entry))).toEqual([])
    // Every module's declarations are there, not only the entries'.
    expect(code.filter((entry) => entry.endsWith('.d.ts')).length).toBeGreaterThan(20)
    const { size } = Bun.file(tarball)
    console.log(`${tarball.split('/').at(-1)}: ${size} bytes packed, ${entries.length} files`)
    // A budget against shipping what users do not need (tests, sources, maps): 64 KiB held three stores;
    // the PostgreSQL store added about 4 KB packed, the `./redis-cluster` entry about 7 KB, flash messages,
    // remember me and their conformance tests (with the README's recipes) about 4 KB, the log restart
    // of the SQLite store's checkpoints and `onStoreCall` about 2 KB.
    expect(size).toBeLessThan(90 * 1024)
  })

  test('its package.json has no workspace: or catalog: range', async () => {
    const packedManifest = (await run(['tar', '-xzOf', tarball, 'package/package.json'], work)).out
    expect(JSON.parse(packedManifest).name).toBe('elysia-server-session')
    expect(packedManifest).not.toMatch(/workspace:|catalog:/)
  })
})

for (const elysia of [catalog.elysia!, lowestElysia]) {
  describe(`a fresh app with elysia ${elysia} from the registry`, () => {
    const app = join(work, `app-elysia-${elysia}`)
    let readmeLines = 0

    beforeAll(async () => {
      mkdirSync(app)
      const dependencies = { elysia }
      // ioredis: the optional peer of `./redis-cluster`, so that its declarations are checked too.
      const devDependencies = { typescript: catalog.typescript, 'bun-types': catalog['bun-types'], ioredis: manifest.devDependencies.ioredis }
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies, devDependencies }))
      const added = await run(['bun', 'add', tarball], app)
      expect(added).toMatchObject({ code: 0 })
      const readme = await Bun.file(join(app, 'node_modules/elysia-server-session/README.md')).text()
      for (const [name, code] of readmeFiles(readme)) appendFileSync(join(app, name), code)
      readmeLines = (await Bun.file(join(app, 'map-store.ts')).text()).trimEnd().split('\n').length
    }, SLOW)

    test('installs a copy of the package and the one Elysia asked for, not the workspace', async () => {
      expect(app.startsWith(join(packageDir, '../..'))).toBe(false)
      expect(lstatSync(join(app, 'node_modules/elysia-server-session')).isSymbolicLink()).toBe(false)
      expect((await Bun.file(join(app, 'node_modules/elysia/package.json')).json()).version).toBe(elysia)
      // Elysia is a peer: the package brings no second copy.
      expect(existsSync(join(app, 'node_modules/elysia-server-session/node_modules'))).toBe(false)
    })

    test(
      "type-checks the README's code and the package's .d.ts under strict and exactOptionalPropertyTypes",
      async () => {
        // Types must flow from the .d.ts: were they lost (any), this directive would be unused, an error.
        writeFileSync(
          join(app, 'typed.ts'),
          [
            "import { Elysia } from 'elysia'",
            "import { memoryStore, session } from 'elysia-server-session'",
            "new Elysia().use(session<{ views: number }>({ store: memoryStore(), secrets: ['x'.repeat(32)] })).get('/', ({ session }) => {",
            '  // @ts-expect-error views holds a number',
            "  session.set('views', 'many')",
            "  return session.get('views')",
            '})',
          ].join('\n')
        )
        const compilerOptions = {
          target: 'ESNext',
          module: 'ESNext',
          moduleResolution: 'bundler',
          lib: ['ESNext'],
          types: ['bun-types'],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          noEmit: true,
          // The library's own declarations are checked; Elysia's are not (they fail on their own
          // under exactOptionalPropertyTypes, which users meet only with skipLibCheck off).
          skipLibCheck: false,
        }
        const include = ['*.ts', 'node_modules/elysia-server-session/dist/**/*.d.ts']
        writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, include }))
        const checked = await run(['bun', 'node_modules/typescript/bin/tsc', '-p', '.'], app)
        // Every error line must be one of Elysia's own files: a global error (TS2688, TS5xxx: no file
        // and line) or one anywhere else fails, whatever the exit code says.
        const errorLines = checked.out.split('\n').filter((line) => /error TS\d+/.test(line))
        expect(errorLines.filter((line) => !/^node_modules\/elysia\/\S+\(\d+,\d+\): error/.test(line))).toEqual([])
        if (errorLines.length === 0) expect(checked.code).toBe(0)
      },
      SLOW
    )

    test("runs the README's example: two visits with a cookie jar count 1 then 2", async () => {
      const port = await freePort()
      const secret = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')
      const server = Bun.spawn(['bun', 'app.ts'], { cwd: app, env: { ...process.env, PORT: String(port), SESSION_SECRET: secret }, stdout: 'pipe', stderr: 'pipe' })
      try {
        let jar = ''
        const visit = async () => {
          const response = await fetch(`http://127.0.0.1:${port}/`, { headers: jar ? { cookie: jar } : {} })
          jar = response.headers.getSetCookie()[0]?.split(';')[0] ?? jar
          return response.text()
        }
        for (let tries = 0; ; tries++) {
          const up = await fetch(`http://127.0.0.1:${port}/probe`).then(() => true, () => false)
          if (up) break
          if (tries > 100 || server.exitCode !== null) throw new Error(`the app did not start: ${await new Response(server.stderr).text()}`)
          await Bun.sleep(100)
        }
        expect(await visit()).toBe('Welcome to this page for the first time!')
        expect(jar).toMatch(/^id=/)
        expect(await visit()).toBe('You visited this page 2 times')
      } finally {
        server.kill()
        await server.exited
      }
    }, 30_000)

    test("the README's Map store, under 90 lines, passes the published core conformance suite", async () => {
      expect(readmeLines).toBeLessThan(90)
      const tested = await run(['bun', 'test', './map-store.test.ts'], app)
      expect(tested.err).toMatch(/\b0 fail\b/)
      expect(tested.err).toMatch(/\b\d+ skip\b/)
      expect(tested.code).toBe(0)
    }, SLOW)

    test.skipIf(!Bun.which('node'))('under Node the import fails at resolution, clearly', async () => {
      const probe = (name: string) =>
        `import('${name}').then(() => console.log('loaded'), (error) => console.log(error.code))`
      for (const name of ['elysia-server-session', 'elysia-server-session/testing']) {
        const node = await run(['node', '--input-type=module', '-e', probe(name)], app)
        expect(node.out.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED')
      }
    })
  })
}
