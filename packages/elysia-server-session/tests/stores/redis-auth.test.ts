/**
 * Redis refusing our credentials, on a real redis-server with a password: reported as a refusal
 * (WRONGPASS, NOAUTH) by `ping` and in the log, never as "cannot reach Redis".
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { redisStore } from '../../src/stores/redis'
import { handshakeRefusal } from '../../src/stores/redis-auth'
import { redisReady, startOwnRedis, type OwnRedis } from '../redis-helpers'

const ready = await redisReady('Redis authentication failures', true, false)
let redis: OwnRedis | undefined
if (ready) redis = await startOwnRedis({ password: 'the-right-password' })
afterAll(() => redis?.stop())

describe.skipIf(!ready)('Redis refusing the credentials', () => {
  const urls = () => ({
    wrong: `redis://default:wrong@127.0.0.1:${redis!.port}`,
    none: `redis://127.0.0.1:${redis!.port}`,
    right: redis!.url,
  })

  for (const [which, code] of [['wrong', 'WRONGPASS'], ['none', 'NOAUTH']] as const) {
    test(`${which === 'wrong' ? 'a wrong password' : 'no password'}: ${code} from ping and in the log`, async () => {
      const warnings: string[] = []
      const store = redisStore({ url: urls()[which], prefix: 'auth-test:', warn: (m) => warnings.push(m) })
      const error = await store.ping().then(() => undefined, (e: unknown) => e as { code?: string; message: string })
      expect(error?.code).toBe(code)
      expect(error?.message).toStartWith(`Redis refused the connection: ${code} `)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toStartWith(`session store: Redis refused the credentials: ${code} `)
      expect(warnings.join('\n')).not.toContain('the-right-password')
      await store.close()
    })
  }

  test('the right password: no refusal, ping answers', async () => {
    expect(await handshakeRefusal(urls().right, 1000)).toBeUndefined()
    const store = redisStore({ url: urls().right, prefix: 'auth-test:', warn: () => {} })
    await store.ping()
    await store.close()
  })

  test('nothing listening: no refusal to report (the store says it cannot reach Redis)', async () => {
    expect(await handshakeRefusal('redis://127.0.0.1:1', 1000)).toBeUndefined()
  })
})
