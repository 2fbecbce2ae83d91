/**
 * @module request-info
 * What the session layer needs to know about a request's origin: the client's address and
 * whether it arrived over https. Proxy headers count only from proxies the app trusts, because
 * anyone can send them.
 */
import { isIP } from 'node:net'
import type { ClientInfo } from './audit'

type Server = { requestIP(request: Request): { address: string } | null; readonly protocol?: string | null } | null | undefined

/**
 * @param trustProxy how many proxies in front of the app to believe: with N, the client is the
 *   N-th address from the right of X-Forwarded-For (each proxy appends the address it saw).
 */
export function clientOf(request: Request, server: Server, trustProxy: number): ClientInfo {
  return new RequestClient(request, server, trustProxy)
}

/** Looked up on first use: most requests (a known session, no bad cookie) never need either. */
class RequestClient implements ClientInfo {
  #address: string | undefined | null = null
  readonly #request: Request
  readonly #server: Server
  readonly #trustProxy: number
  constructor(request: Request, server: Server, trustProxy: number) {
    this.#request = request
    this.#server = server
    this.#trustProxy = trustProxy
  }
  get address() {
    if (this.#address === null) this.#address = addressOf(this.#request, this.#server, this.#trustProxy)
    return this.#address
  }
  get userAgent() {
    return this.#request.headers.get('user-agent')?.slice(0, 256)
  }
}

function addressOf(request: Request, server: Server, trustProxy: number): string | undefined {
  if (trustProxy > 0) {
    const forwarded = request.headers.get('x-forwarded-for')?.split(',')
    const hop = forwarded?.[Math.max(0, forwarded.length - trustProxy)]?.trim()
    // Not an address (`unknown`, a port, junk from a misconfigured hop): the socket's peer is.
    if (hop && isIP(hop) !== 0) return hop
  }
  return server?.requestIP(request)?.address
}

/** True when the request came over https, directly or (trusted) through a proxy. */
export function isHttps(request: Request, server: Server, trustProxy: number): boolean {
  // The server knows its own scheme; without one (app.handle in tests) the URL tells.
  if (server?.protocol ? server.protocol === 'https' : request.url.startsWith('https:')) return true
  return trustProxy > 0 && forwardedHttps(request)
}

/** X-Forwarded-Proto says https: the nearest proxy's word, the last value of the list. */
export function forwardedHttps(request: Request): boolean {
  return request.headers.get('x-forwarded-proto')?.split(',').pop()?.trim().toLowerCase() === 'https'
}

/**
 * The request's own origin, `scheme://host[:port]` as browsers write the Origin header: the scheme
 * as `isHttps` decides, the host from a trusted proxy's X-Forwarded-Host (the nearest proxy's) or
 * else the Host the request was sent to. Undefined when that host is not a plain host[:port].
 */
export function originOf(request: Request, server: Server, trustProxy: number): string | undefined {
  const scheme = isHttps(request, server, trustProxy) ? 'https' : 'http'
  const forwarded = trustProxy > 0 ? request.headers.get('x-forwarded-host')?.split(',').pop()?.trim() : undefined
  const host = forwarded || URL.parse(request.url)?.host
  if (!host || /[/?#@\\\s]/.test(host)) return undefined
  // Parsed again with the final scheme, so that its default port drops out as in the browser's.
  return URL.parse(`${scheme}://${host}`)?.origin
}

/**
 * The values of cookie `name` in a Cookie header, in order (browsers send the most specific path
 * first), URL-decoded, at most `limit`: one value as a string (the common case allocates no
 * array), several as an array, none as `undefined`; empty values are skipped. Several values of
 * one name come from cookie tossing (a sibling subdomain or a script setting `id` on another path),
 * so the caller tries each. A value that fails to decode is returned as sent: its signature
 * check fails. Reading one name here spares parsing every cookie of every request into Elysia's jar.
 */
export function readCookies(header: string | null, name: string, limit: number): string | string[] | undefined {
  if (!header) return undefined
  let first: string | undefined
  let more: string[] | undefined
  for (let start = 0; start < header.length; ) {
    const end = header.indexOf(';', start)
    const stop = end === -1 ? header.length : end
    const eq = header.indexOf('=', start)
    if (eq !== -1 && eq < stop && header.slice(start, eq).trim() === name) {
      const value = cookieValue(header.slice(eq + 1, stop))
      if (value !== '') {
        if (first === undefined) first = value
        else (more ??= [first]).push(value)
        const found = more ? more.length : 1
        // The hot path: one cookie of our name, and the rest of the header never names it again.
        if (found >= limit || header.indexOf(name, stop) === -1) break
      }
    }
    start = stop + 1
  }
  return more ?? first
}

function cookieValue(raw: string): string {
  let value = raw.trim()
  if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
  if (!value.includes('%')) return value
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

/**
 * Whether the client asks for JSON rather than a page: its Accept header names `application/json`
 * or a `+json` type, and not `text/html`. `*\/*` alone (curl, fetch) and browsers get text.
 */
export function acceptsJson(request: Request): boolean {
  const accept = request.headers.get('accept')
  return accept !== null && /application\/json|\+json/i.test(accept) && !/text\/html/i.test(accept)
}
