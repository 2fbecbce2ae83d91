/**
 * The PostgreSQL store against a real server: the shared conformance suite on a fresh database,
 * then what is specific to PostgreSQL (schema and migrations, exact round trips, the size limit,
 * concurrent instances, pruning, fail-fast faults and recovery on a server of the test's own).
 */
import { describe, expect, test } from 'bun:test'
import { postgresStore } from '../../src/stores/postgres'
import { createTestDatabase, postgresReady } from '../postgres-helpers'
import { storeConformance } from '../../src/testing'

const ready = await postgresReady('postgres store tests')
const url = ready ? await createTestDatabase() : ''
let n = 0
const open = (options: Parameters<typeof postgresStore>[0] = {}) =>
  postgresStore({ url, table: `s${n++}`, pruneIntervalMs: 0, ...options })

if (ready) storeConformance('postgres', () => open())
