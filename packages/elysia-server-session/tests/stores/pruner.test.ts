/** The shared pruner (records.ts): batches until one comes back short, and the randomised timer. */
import { expect, test } from 'bun:test'
import { startPruner } from '../../src/stores/records'

test('a sweep runs batches until one comes back short, and reports the total', async () => {
  const batches = [3, 3, 1]
  const swept: number[] = []
  const stop = startPruner(
    { prune: async () => batches.shift() ?? 0 },
    { intervalMs: 20, batchSize: 3, now: () => 0, onError: () => {}, onPruned: (count) => swept.push(count) }
  )
  await Bun.sleep(50)
  stop()
  expect(swept[0]).toBe(7)
})

test('with jitter, each wait is a random 50-150 % of the interval (instances do not sweep in step)', async () => {
  const at: number[] = []
  const stop = startPruner(
    { prune: async () => (at.push(performance.now()), 0) },
    { intervalMs: 40, batchSize: 10, jitter: true, now: () => 0, onError: () => {} }
  )
  await Bun.sleep(1000)
  stop()
  const count = at.length
  await Bun.sleep(150)
  expect(at.length).toBe(count) // stopped: no sweep after
  const gaps = at.slice(1).map((t, i) => t - at[i]!)
  expect(gaps.length).toBeGreaterThan(10)
  for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(19)
  expect(Math.min(...gaps)).toBeLessThan(32)
  expect(Math.max(...gaps)).toBeGreaterThan(48)
})
