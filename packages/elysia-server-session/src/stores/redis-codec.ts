/**
 * @module redis-codec
 * What every Redis store (single node, Cluster, Sentinel) sends to the scripts of
 * `redis-scripts.ts` and reads back from them: one layout, whatever the client (see `redis.ts`).
 */
import { SessionTooLargeError, SessionValueError } from '../errors'
import type { SessionChanges, SessionData, SessionRecord, WriteOptions } from '../store'
import { decodeData, encodeData } from './records'

/** Native TTLs outlive `expiresAt` by this much: the scripts' clock decides, Redis only sweeps. */
export const SLACK_MS = 1000

const TYPES: Record<string, string> = { '"': 'string', '{': 'object', '[': 'object', n: 'object', t: 'boolean', f: 'boolean' }

/** Flat `[field, value, ...]` of `data`: JSON-string names, JSON values; undefined values go to `unset`. */
function fieldsOf(data: SessionData, unset: string[] = []): string[] {
  const out: string[] = []
  for (const [name, value] of Object.entries(data)) {
    const json = JSON.stringify(value)
    if (json === undefined) unset.push(JSON.stringify(name))
    else out.push(JSON.stringify(name), json)
  }
  return out
}

export const ttl = (expiresAt: number, at: number) => String(Math.max(1, Math.ceil(expiresAt - at)) + SLACK_MS)
/** The scripts' expiresAt and TTL arguments; empty strings keep the record's deadline as it is. */
const deadline = (expiresAt: number | undefined, at: number) =>
  expiresAt === undefined ? ['', ''] : [String(expiresAt), ttl(expiresAt, at)]

/** Data from a flat `[field, value, ...]` reply, or undefined when it does not decode. */
export function dataOf(pairs: string[]): SessionData | undefined {
  const parts: string[] = []
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i]!.startsWith('"')) parts.push(`${pairs[i]}:${pairs[i + 1]}`)
  return decodeData(`{${parts.join(',')}}`)
}

/** The record in a flat HGETALL reply, or undefined when it is damaged (data or times that do not decode). */
export function recordOf(pairs: string[]): SessionRecord | undefined {
  const data = dataOf(pairs)
  if (!data) return undefined
  const meta = new Map<string, string>()
  for (let i = 0; i < pairs.length; i += 2) if (pairs[i]!.startsWith('_')) meta.set(pairs[i]!, pairs[i + 1]!)
  const [createdAt, lastSeenAt, expiresAt] = ['_c', '_l', '_e'].map((name) => Number(meta.get(name) ?? NaN)) as [number, number, number]
  const [subject, userAgent, movedTo, remembered] = [meta.get('_s'), meta.get('_u'), meta.get('_m'), meta.get('_k')]
  const renewedAt = Number(meta.get('_r') ?? createdAt)
  if (![createdAt, lastSeenAt, expiresAt, renewedAt].every(Number.isFinite)) return undefined
  const record: SessionRecord = { data, createdAt, lastSeenAt, expiresAt, renewedAt }
  return Object.assign(record, subject !== undefined && { subject }, userAgent !== undefined && { userAgent }, movedTo !== undefined && { movedTo }, remembered !== undefined && { remembered: true })
}

/** CREATE's ARGV after the prefix, or undefined when the record is dead on arrival (nothing to write). */
export function createArgs(record: SessionRecord, maxBytes: number): string[] | undefined {
  const { data, createdAt, lastSeenAt, expiresAt, renewedAt, subject, userAgent, remembered } = record
  encodeData(data, maxBytes) // throws when too large
  if (expiresAt <= lastSeenAt) return undefined
  const meta = ['_c', createdAt, '_l', lastSeenAt, '_e', expiresAt, '_r', renewedAt].map(String)
  if (subject !== undefined) meta.push('_s', subject)
  if (userAgent !== undefined) meta.push('_u', userAgent)
  if (remembered) meta.push('_k', '1')
  const bind = subject === undefined ? '' : `=${subject}`
  return [ttl(expiresAt, lastSeenAt), bind, ...meta, ...fieldsOf(data)]
}

/** UPDATE's ARGV after the prefix. */
export function updateArgs(changes: SessionChanges, { now, expiresAt, maxBytes }: WriteOptions): string[] {
  const unset: string[] = []
  const set = fieldsOf(changes.set, unset)
  for (const name of changes.unset) unset.push(JSON.stringify(name))
  const bind = changes.subject === undefined ? '' : changes.subject === null ? '-' : `=${changes.subject}`
  const remember = changes.remembered === undefined ? '' : changes.remembered ? '1' : '0'
  return [String(now), ...deadline(expiresAt, now), String(maxBytes), bind, remember, String(set.length), ...set, ...unset]
}

/** TAKE's ARGV after the prefix. */
export const takeArgs = (fields: readonly string[], { now, expiresAt }: WriteOptions) => [
  String(now),
  ...deadline(expiresAt, now),
  ...fields.map((field) => JSON.stringify(field)),
]

/** TAKE's reply: the taken values (null when they do not decode), undefined when not live. */
export function takeResult(reply: string[] | null): SessionData | null | undefined {
  return reply ? dataOf(reply.slice(1)) ?? null : undefined
}

/** INCREMENT's ARGV after the prefix; throws for a `by` that is not finite. */
export function incrementArgs(field: string, by: number, { now, expiresAt, maxBytes }: WriteOptions): string[] {
  if (!Number.isFinite(by)) throw new SessionValueError(`cannot increment "${field}" by ${by}`)
  return [String(now), ...deadline(expiresAt, now), String(maxBytes), JSON.stringify(field), String(by)]
}

/** TOUCH's ARGV after the prefix. */
export const touchArgs = (now: number, expiresAt: number) => [String(now), String(expiresAt), ttl(expiresAt, now)]

const refuse = (reply: string[], maxBytes: number): never => {
  throw new SessionTooLargeError(Number(reply[1]), maxBytes)
}

/** UPDATE's reply: the merged data (null when it does not decode), undefined when not live; throws when too large. */
export function updateResult(reply: string[] | null, maxBytes: number): SessionData | null | undefined {
  if (!reply) return undefined
  if (reply[0] === 'BIG') refuse(reply, maxBytes)
  return dataOf(reply.slice(1)) ?? null
}

/** INCREMENT's reply: the new value, undefined when not live; throws the errors the contract names. */
export function incrementResult(reply: string[] | null, field: string, maxBytes: number): number | undefined {
  if (!reply) return undefined
  if (reply[0] === 'BIG') refuse(reply, maxBytes)
  if (reply[0] === 'TYPE') throw new SessionValueError(`cannot increment "${field}": it holds a ${TYPES[reply[1]!] ?? 'non-number'}`)
  if (reply[0] === 'INF') throw new SessionValueError(`cannot increment "${field}": the result is not a finite number`)
  return Number(reply[1])
}

/**
 * `StoreStats` summed over a walk of the keys: `scan` calls `each` per batch (a batch of keys, or one key
 * in a cluster) and `count` asks Redis's STATS script for that batch's `[live, expired, remembered]`.
 */
export async function sumStats<K>(
  scan: (each: (batch: K) => Promise<boolean>) => Promise<void>,
  count: (batch: K) => Promise<[number, number, number]>
) {
  let live = 0
  let expired = 0
  let remembered = 0
  await scan(async (batch) => {
    const [l, e, r] = await count(batch)
    live += l
    expired += e
    remembered += r
    return true
  })
  return { live, expired, remembered }
}
