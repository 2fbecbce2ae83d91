import { expect, test } from 'bun:test'
import { createFaultReporter, describeFault, faultCode } from '../src/faults'

const fault = (code: string, message: string) => Object.assign(new Error(message), { code })

test('a fault is logged in full once, then summarised per interval with a count, then forgotten', async () => {
  const lines: string[] = []
  const faults = createFaultReporter({ logger: { error: (line) => lines.push(line) }, intervalMs: 60 })
  for (let i = 0; i < 100; i++) faults.report(i % 2 ? 'update' : 'increment', fault('SQLITE_FULL', 'database or disk is full'))
  faults.report('read', fault('SQLITE_BUSY', 'database is locked'))
  expect(lines).toEqual([
    'session store increment failed: SQLITE_FULL: database or disk is full',
    'session store read failed: SQLITE_BUSY: database is locked',
  ])
  await Bun.sleep(90)
  expect(lines.slice(2)).toEqual(['session store: 99 more SQLITE_FULL failures in the last 0.06 s (latest: update)'])
  await Bun.sleep(60) // an interval without faults closes it: no line
  expect(lines).toHaveLength(3)
  faults.report('create', fault('SQLITE_FULL', 'database or disk is full'))
  expect(lines.at(-1)).toBe('session store create failed: SQLITE_FULL: database or disk is full')
})

test('the code is the engine code when there is one, else the error name; the description is one line', () => {
  expect(faultCode(fault('WRONGPASS', 'x'))).toBe('WRONGPASS')
  expect(faultCode(new TypeError('x'))).toBe('TypeError')
  expect(faultCode('text')).toBe('string')
  // Bun's PostgreSQL errors share one code; the SQLSTATE tells a full disk from a deadlock.
  const full = Object.assign(fault('ERR_POSTGRES_SERVER_ERROR', 'could not extend file'), { errno: '53100' })
  expect(faultCode(full)).toBe('ERR_POSTGRES_SERVER_ERROR/53100')
  expect(describeFault(full)).toBe('ERR_POSTGRES_SERVER_ERROR/53100: could not extend file')
  expect(describeFault(fault('ERR_REDIS_TIMEOUT', 'Redis did not answer\nwithin 500 ms'))).toBe('ERR_REDIS_TIMEOUT: Redis did not answer within 500 ms')
  expect(describeFault(fault('WRONGPASS', 'WRONGPASS invalid username-password pair'))).toBe('WRONGPASS invalid username-password pair')
})
