/**
 * @module schema
 * Schema-typed sessions: `session({ schema })` takes a TypeBox schema (Elysia's `t`) or any
 * Standard Schema v1 (Zod, Valibot, ArkType, ...). The session's type is the schema's output, and
 * stored data is checked on load: data the schema rejects is no session (a fresh one, and an
 * `invalid` audit event), never a 500.
 */
import { Kind, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { SessionLogger } from './options'
import type { SessionData } from './store'

/** The result of a Standard Schema validation: the output value, or the issues found. */
export type StandardSchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string }> }

/**
 * The part of the Standard Schema v1 interface (standardschema.dev) that sessions use, declared
 * here so that no schema library is a dependency.
 */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => StandardSchemaResult<Output> | Promise<StandardSchemaResult<Output>>
    readonly types?: { readonly input: Input; readonly output: Output } | undefined
  }
}

/** The output type of a Standard Schema. */
export type StandardSchemaOutput<S extends StandardSchemaV1> = NonNullable<S['~standard']['types']>['output']

/** What `session({ schema })` accepts: a TypeBox schema (Elysia's `t`) or a Standard Schema. */
export type SessionSchema = TSchema | StandardSchemaV1

/**
 * The session data type a schema describes.
 * @example
 * type Data = SchemaData<typeof schema> // t.Object({ views: t.Number() }) gives { views: number }
 */
export type SchemaData<S> = S extends StandardSchemaV1 ? StandardSchemaOutput<S> : S extends TSchema ? Static<S> : never

/**
 * Checks stored data on load: the data to use (a Standard Schema's output), or undefined when it
 * is rejected. Async only when an async Standard Schema validator makes it so.
 */
export type DataCheck = (data: SessionData) => SessionData | undefined | Promise<SessionData | undefined>

const isSessionData = (value: unknown): value is SessionData =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A schema as a check, compiled once (TypeBox) or called as it is (Standard Schema). */
function schemaCheck(schema: SessionSchema): DataCheck {
  if (typeof schema === 'object' && schema !== null && '~standard' in schema) {
    const { validate } = schema['~standard']
    const outcome = (result: StandardSchemaResult<unknown>) =>
      result.issues === undefined && isSessionData(result.value) ? result.value : undefined
    return (data) => {
      const result = validate(data)
      return result instanceof Promise ? result.then(outcome) : outcome(result)
    }
  }
  if (typeof schema === 'object' && schema !== null && Kind in schema) {
    // Session data is an object of keys: a schema of one string (or array, ...) rejects every session.
    if (['string', 'number', 'integer', 'boolean', 'null', 'array'].includes(schema.type)) {
      throw new TypeError(`session: \`schema\` describes a${schema.type === 'integer' || schema.type === 'array' ? 'n' : ''} ${schema.type}, but session data is an object (use t.Object)`)
    }
    const compiled = TypeCompiler.Compile(schema)
    return (data) => (compiled.Check(data) ? data : undefined)
  }
  throw new TypeError('session: `schema` must be a TypeBox schema (Elysia `t`) or a Standard Schema (Zod, Valibot, ArkType)')
}

/**
 * The load check for the options: the schema (when given), then `validate` on what it accepted.
 * A validator that throws rejects the data (logged), so a broken check is never a 500.
 */
export function createDataCheck(schema: SessionSchema | undefined, validate: (data: SessionData) => boolean, logger: SessionLogger): DataCheck {
  const bySchema = schema === undefined ? undefined : schemaCheck(schema)
  const rejected = (error: unknown) => {
    logger.error(`session: the schema or validate option threw on stored data (treated as no session): ${String(error)}`)
    return undefined
  }
  const byValidate = (data: SessionData | undefined) => {
    try {
      return data !== undefined && validate(data) ? data : undefined
    } catch (error) {
      return rejected(error)
    }
  }
  if (!bySchema) return byValidate
  return (data) => {
    try {
      const checked = bySchema(data)
      return checked instanceof Promise ? checked.then(byValidate, rejected) : byValidate(checked)
    } catch (error) {
      return rejected(error)
    }
  }
}
