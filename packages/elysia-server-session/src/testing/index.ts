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
 * storeConformance('my', () => myStore())
 */
export { storeConformance, record, key } from './conformance'
export { cookieClient, cookieOf, handleWith } from './client'
