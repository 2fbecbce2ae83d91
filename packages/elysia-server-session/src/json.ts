/**
 * @module json
 * Session data is JSON: the types that say so at compile time, and the check that says so at run
 * time, before anything reaches a store (a value JSON cannot hold is the app's error, never a
 * store fault).
 */

/** A value JSON holds as it is: what a session can store. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue | undefined }

/**
 * `T` when it is JSON through and through, else a type `T` does not satisfy: `Date`, `Map`, `Set`,
 * `bigint`, functions and objects with methods become `never` somewhere inside. Interfaces work
 * too (they have no index signature, so they are checked key by key).
 */
export type Json<T> = T extends JsonValue | undefined
  ? T
  : T extends (...args: never) => unknown
    ? never
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : never

/**
 * The constraint on a session's data type: an object whose every value is JSON.
 * @example
 * type Data = { views: number; cart: { sku: string; qty: number }[] } // ok
 * type Bad = { seen: Date } // session<Bad>(...) is a compile error: store `seen.getTime()` instead
 */
export type JsonShape<T> = { [K in keyof T]: Json<T[K]> }

/** `T` with every property and element read-only, all the way down: what `session.get` hands out. */
export type DeepReadonly<T> = T extends string | number | boolean | null | undefined
  ? T
  : T extends readonly (infer U)[]
    ? T extends readonly [unknown, ...unknown[]]
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : readonly DeepReadonly<U>[]
    : { readonly [K in keyof T]: DeepReadonly<T[K]> }

/**
 * Where `value` stops being JSON that reads back as it was written, as a path below `key`
 * (`cart[2].at: a Date`), or undefined when it is JSON. Object properties that are `undefined`
 * are allowed (JSON leaves them out, which reads back as missing); everything JSON would change
 * or refuse is reported: non-finite numbers, `undefined` in arrays, bigint, symbols, functions,
 * class instances (Date, Map, Set, ...) and cycles.
 */
export function jsonProblem(value: unknown, path: string, ancestors: unknown[] = []): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined
    case 'number':
      return Number.isFinite(value) ? undefined : `${path}: ${value} is not a JSON number`
    case 'object':
      break
    default:
      return `${path}: a ${typeof value} is not JSON`
  }
  if (value === null) return undefined
  if (ancestors.includes(value)) return `${path}: a circular reference`
  ancestors.push(value)
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i]
        const problem = item === undefined ? `${path}[${i}]: undefined in an array` : jsonProblem(item, `${path}[${i}]`, ancestors)
        if (problem) return problem
      }
      return undefined
    }
    const prototype: unknown = Object.getPrototypeOf(value)
    if (prototype !== Object.prototype && prototype !== null) {
      return `${path}: a ${(value as object).constructor?.name || 'class instance'} is not JSON`
    }
    for (const [name, item] of Object.entries(value)) {
      const problem = item === undefined ? undefined : jsonProblem(item, `${path}.${name}`, ancestors)
      if (problem) return problem
    }
    return undefined
  } finally {
    ancestors.pop()
  }
}
