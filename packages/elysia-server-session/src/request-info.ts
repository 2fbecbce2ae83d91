/**
 * @module request-info
 * What the session layer needs to know about a request's origin: the client's address and
 * whether it arrived over https. Proxy headers count only from proxies the app trusts, because
 * anyone can send them.
 */
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
    const forwarded = request.headers.get('x-forwarded-for')?.split(',').map((part) => part.trim())
    const hop = forwarded && forwarded[Math.max(0, forwarded.length - trustProxy)]
    if (hop) return hop
  }
  return server?.requestIP(request)?.address
}

/** True when the request came over https, directly or (trusted) through a proxy. */
export function isHttps(request: Request, server: Server, trustProxy: number): boolean {
  // The server knows its own scheme; without one (app.handle in tests) the URL tells.
  if (server?.protocol ? server.protocol === 'https' : request.url.startsWith('https:')) return true
  if (trustProxy === 0) return false
  // The nearest proxy's word counts: the last value in a comma-separated list.
  const proto = request.headers.get('x-forwarded-proto')?.split(',').pop()?.trim().toLowerCase()
  return proto === 'https'
}

/**
 * The value of cookie `name` in a Cookie header (the first one, as browsers send the most specific
 * first), URL-decoded; `undefined` when absent. A value that fails to decode is returned as sent:
 * its signature check fails, which means a fresh session. Reading one cookie here spares parsing
 * every cookie of every request into Elysia's jar.
 */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined
  for (let start = 0; start < header.length; ) {
    const end = header.indexOf(';', start)
    const stop = end === -1 ? header.length : end
    const eq = header.indexOf('=', start)
    if (eq !== -1 && eq < stop && header.slice(start, eq).trim() === name) {
      let value = header.slice(eq + 1, stop).trim()
      if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
      if (!value.includes('%')) return value
      try {
        return decodeURIComponent(value)
      } catch {
        return value
      }
    }
    start = stop + 1
  }
  return undefined
}
