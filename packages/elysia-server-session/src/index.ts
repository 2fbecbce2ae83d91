/**
 * @module session
 * Server-side sessions for Elysia on Bun: the plugin, the store contract and the stores.
 */
export { session, type SessionPlugin, type SignedInSession } from './plugin'
export type { SessionSchema, SchemaData, StandardSchemaV1, StandardSchemaResult, StandardSchemaOutput } from './schema'
export type { SessionOptions, SessionLogger, SessionEvent, StoreOperation } from './options'
export { FLOOD_DEFAULTS, type FloodOptions } from './flood'
export { csrfDefaults, type CsrfOptions, type CsrfReason } from './csrf'
export { Session, type NumericKeys } from './session'
export type { JsonValue, JsonShape, Json, DeepReadonly } from './json'
export type { SessionStore, SessionRecord, SessionData, SessionChanges, WriteOptions } from './store'
export { SessionError, SessionStoreError, SessionTooLargeError, SessionValueError, SessionCommittedError, SessionOldIdError, SessionRequiredError, SessionCsrfError } from './errors'
export { createFaultReporter, describeFault, faultCode, FAULT_REPORTER_DEFAULTS, type FaultReporter, type FaultReporterOptions } from './faults'
export { memoryStore, type MemoryStoreOptions } from './stores/memory'
export { sqliteStore, type SqliteStoreOptions } from './stores/sqlite'
export { redisStore, type RedisStoreOptions } from './stores/redis'
export { postgresStore, POSTGRES_STORE_DEFAULTS, type PostgresStoreOptions } from './stores/postgres'
export { sign, unsign } from './signing'
export { generateId, storeKey } from './ids'
export { subjectSessions, type SubjectSessions } from './subjects'
export type { SessionSummary, StoreStats } from './store'
export { hasCapability, requireCapability, capabilityMethods } from './capabilities'
export type {
  FullSessionStore,
  StoreCapability,
  StoreCapabilities,
  SubjectsCapability,
  PruneCapability,
  StatsCapability,
  DestroyAllCapability,
} from './capabilities'
export { MIN_SECRET_LENGTH, sessionDefaults } from './options'
