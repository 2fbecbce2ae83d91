/**
 * The published declarations: `tsc -p tsconfig.build.json` (stripInternal on) must emit .d.ts
 * files that type-check on their own, as a consumer with `skipLibCheck: false` checks them: no
 * public declaration may name an `@internal` one that stripInternal removed. Elysia, TypeBox and Bun are
 * stubbed (and ioredis, the optional peer of `./redis-cluster`), so that only our files are checked (and quickly).
 */
import { expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './helpers'

const packageDir = join(import.meta.dir, '..')
const tsc = Bun.which('tsc', { PATH: join(packageDir, '../../node_modules/.bin') }) ?? 'tsc'

const STUBS: Record<string, string> = {
  'elysia.d.ts': 'export declare class Elysia<A = any, B = any, C = any, D = any, E = any, F = any, G = any> { private brand: [A, B, C, D, E, F, G] }',
  'bun.d.ts': 'export declare class RedisClient { private brand: true }\nexport declare class SQL { private brand: true }',
  'bun-sqlite.d.ts': 'export declare class Database { private brand: true }',
  'typebox.d.ts': 'export interface TSchema { params: unknown[]; static: unknown }\nexport type Static<T extends TSchema> = T["static"]',
  'ioredis.d.ts': 'export declare class Redis { private brand: true }\nexport declare class Cluster { private brand: true }',
}

test('the .d.ts built with stripInternal type-check with skipLibCheck off', () => {
  const dir = tempDir('declarations-')
  const out = join(dir, 'dist')
  const build = Bun.spawnSync([tsc, '-p', join(packageDir, 'tsconfig.build.json'), '--outDir', out], { stderr: 'pipe', stdout: 'pipe' })
  expect(build.stdout.toString() + build.stderr.toString()).toBe('')
  for (const [name, text] of Object.entries(STUBS)) writeFileSync(join(dir, name), text)
  const config = {
    compilerOptions: {
      target: 'ESNext',
      module: 'ESNext',
      moduleResolution: 'bundler',
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      skipDefaultLibCheck: true,
      types: [],
      lib: ['ESNext', 'DOM'],
      paths: { elysia: ['./elysia.d.ts'], bun: ['./bun.d.ts'], 'bun:sqlite': ['./bun-sqlite.d.ts'], '@sinclair/typebox': ['./typebox.d.ts'], ioredis: ['./ioredis.d.ts'] },
    },
    include: ['dist/**/*.d.ts'],
  }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config))
  const check = Bun.spawnSync([tsc, '-p', join(dir, 'tsconfig.json')], { stderr: 'pipe', stdout: 'pipe' })
  expect(check.stdout.toString() + check.stderr.toString()).toBe('')
  expect(check.exitCode).toBe(0)
}, 120_000)
