/**
 * @module flash
 * Flash messages live in the session's data under reserved keys (`FLASH_PREFIX` + name), so every
 * store keeps them with no schema of their own, parallel requests merge them key by key, and a
 * store's atomic `take` consumes each exactly once. On load they are moved out of the data the
 * handler, `validate` and `schema` see.
 */
import type { SessionData } from './store'

/** Data keys that start with this are flash messages; the prefix is reserved. */
export const FLASH_PREFIX = '~flash:'

/** The default type of flash messages: text by name. */
export type FlashMessages = Record<string, string>

/**
 * Moves the flash messages out of `data` (in place). @returns them by name, or undefined when
 * there are none (the common case costs one `startsWith` per key).
 */
export function extractFlash(data: SessionData): SessionData | undefined {
  let flash: SessionData | undefined
  for (const key in data) {
    if (!key.startsWith(FLASH_PREFIX)) continue
    flash ??= {}
    flash[key.slice(FLASH_PREFIX.length)] = data[key]!
    delete data[key]
  }
  return flash
}

/** The taken data keys back to flash names. */
export function flashNames(taken: SessionData): SessionData {
  const flash: SessionData = {}
  for (const key in taken) flash[key.slice(FLASH_PREFIX.length)] = taken[key]!
  return flash
}
