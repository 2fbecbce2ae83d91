/**
 * @module testing
 * For authors of stores and apps: the store conformance suite every store must pass, and a
 * cookie-keeping client for `app.handle`. Runs under `bun test`.
 *
 * @example
 * // my-store.test.ts
 * import { storeConformance } from 'elysia-server-session/testing'
 * import { myStore } from './my-store'
 *
 * // The core, and the capabilities the store has (all four when the option is left out).
 * storeConformance('my', () => myStore(), { capabilities: ['subjects', 'prune'] })
 */
export { storeConformance, record, key, type ConformanceOptions } from './conformance'
export { cookieClient, cookieOf, handleWith } from './client'
