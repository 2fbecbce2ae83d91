/**
 * @module csrf
 * Cross-site request forgery protection, on by default. The model is Go 1.25's
 * `http.CrossOriginProtection`: a browser says where a request comes from (`Sec-Fetch-Site`, or
 * else `Origin`), so an unsafe request that a browser marks as cross-site is refused; a request
 * with neither header is not from a browser (or from one too old to send them) and passes.
 * For apps that must also serve such browsers, a token bound to the session can be required too.
 */
import { timingSafeEqual } from 'node:crypto'
import { hmac } from './signing'

export type CsrfOptions = {
  /**
   * Origins allowed to send unsafe requests although they are cross-site, each exactly
   * `scheme://host[:port]` as browsers write the Origin header (lower case, no default port, no
   * path or trailing slash). @default []
   * @example trustedOrigins: ['https://app.example.com']
   */
  trustedOrigins?: readonly string[]
  /** Also accept `Sec-Fetch-Site: same-site` (sibling subdomains). @default false */
  allowSameSite?: boolean
  /**
   * Routes exempt from every check, each `'METHOD /path'`, matched exactly against the request's
   * method and path as the router sees it (query aside): no prefix, pattern, case folding or path
   * cleaning, so `'POST /webhook'` exempts neither `/webhook/` nor `/webhook/x` nor `/Webhook`.
   * Server-to-server calls send neither header and need no exemption; this is for expected
   * cross-site browser posts (an OAuth or SAML `form_post` callback). @default []
   * @example exempt: ['POST /auth/callback']
   */
  exempt?: readonly string[]
  /**
   * Also require the session's token (`session.csrfToken()`) on every unsafe request, in the
   * `x-csrf-token` header or the `_csrf` form field. Off by default; one route can ask for it
   * with the route option `{ csrfToken: true }`. @default false
   */
  token?: boolean
}

export const csrfDefaults: Required<CsrfOptions> = {
  trustedOrigins: [],
  allowSameSite: false,
  exempt: [],
  token: false,
}

/** What the plugin checks a request against; built once from the options. */
export type CsrfGuard = {
  /** Token mode for every unsafe route. */
  readonly token: boolean
  /** True for methods that never change state and so are never checked. */
  isSafe(method: string): boolean
  /** Exempt by `exempt`: this method on exactly this path. */
  isExempt(method: string, path: string): boolean
  /**
   * Why a browser's unsafe request must be refused, or undefined when it may pass.
   * @param ownOrigin the request's own origin, computed only when the Origin header must be compared
   */
  refusal(headers: Headers, method: string, path: string, ownOrigin: () => string | undefined): CsrfReason | undefined
}

export type CsrfReason = 'sec-fetch-site' | 'origin' | 'token'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const EXEMPT_PATTERN = /^([A-Z]+) (\/[^\s?#]*)$/

/** Validates the options (a `TypeError` naming the bad entry) and builds the guard. */
export function createCsrfGuard(options: CsrfOptions): CsrfGuard {
  if (typeof options !== 'object' || options === null) throw new TypeError('session: `csrf` must be an options object or false')
  // An option given as undefined takes its default, as an absent one does.
  const { trustedOrigins = csrfDefaults.trustedOrigins, exempt = csrfDefaults.exempt } = options
  const { allowSameSite = csrfDefaults.allowSameSite, token = csrfDefaults.token } = options
  for (const [name, value] of Object.entries({ trustedOrigins, exempt })) {
    if (!Array.isArray(value)) throw new TypeError(`session: csrf.${name} must be an array`)
  }
  for (const [name, value] of Object.entries({ allowSameSite, token })) {
    if (typeof value !== 'boolean') throw new TypeError(`session: csrf.${name} must be true or false`)
  }
  const trusted = new Set(trustedOrigins.map(checkOrigin))
  const exemptRoutes = new Set(exempt.map(checkExempt))
  const isExempt = (method: string, path: string) => exemptRoutes.size > 0 && exemptRoutes.has(`${method} ${path}`)
  const excused = (headers: Headers, method: string, path: string) => {
    const origin = headers.get('origin')
    return isExempt(method, path) || (origin !== null && trusted.has(origin))
  }
  return {
    token,
    isSafe: (method) => SAFE_METHODS.has(method),
    isExempt,
    refusal(headers, method, path, ownOrigin) {
      if (SAFE_METHODS.has(method)) return undefined
      const site = headers.get('sec-fetch-site')
      if (site) {
        if (site === 'same-origin' || site === 'none' || (allowSameSite && site === 'same-site')) return undefined
        return excused(headers, method, path) ? undefined : 'sec-fetch-site'
      }
      const origin = headers.get('origin')
      // Neither header: not a browser, or one too old to help; CSRF needs a browser.
      if (!origin) return undefined
      // `Origin: null` (sandboxed frames, some redirects) parses to nothing and so never matches.
      const own = ownOrigin()
      if (own !== undefined && URL.parse(origin)?.origin === own) return undefined
      return excused(headers, method, path) ? undefined : 'origin'
    },
  }
}

function checkOrigin(origin: unknown): string {
  const url = typeof origin === 'string' ? URL.parse(origin) : null
  if (url && url.host && `${url.protocol}//${url.host}` === origin) return origin
  const hint = url?.host ? ` (did you mean ${JSON.stringify(`${url.protocol}//${url.host}`)}?)` : ''
  throw new TypeError(`session: csrf.trustedOrigins entry ${JSON.stringify(origin)} is not exactly scheme://host[:port]${hint}`)
}

function checkExempt(route: unknown): string {
  const match = typeof route === 'string' ? EXEMPT_PATTERN.exec(route) : null
  if (!match) throw new TypeError(`session: csrf.exempt entry ${JSON.stringify(route)} is not 'METHOD /path' (e.g. 'POST /webhook')`)
  if (SAFE_METHODS.has(match[1]!)) throw new TypeError(`session: csrf.exempt entry ${JSON.stringify(route)}: ${match[1]} is never checked`)
  return route as string
}

/**
 * The token of the stored session whose store key is `key`, under `secret`: an HMAC, so it needs
 * no storage and changes whenever the ID does (`regenerate()`), and it reveals nothing of the ID.
 */
export const csrfTokenFor = (key: string, secret: string): string => hmac(key, `csrf:${secret}`, 'base64url')

/** True when `given` is the token of `key` under any of the secrets (rotation); constant-time. */
export function isCsrfToken(given: unknown, key: string | undefined, secrets: readonly string[]): boolean {
  if (typeof given !== 'string' || key === undefined || given.length !== 43) return false
  const bytes = Buffer.from(given)
  if (bytes.length !== 43) return false
  let valid = false
  for (const secret of secrets) valid = timingSafeEqual(bytes, Buffer.from(csrfTokenFor(key, secret))) || valid
  return valid
}
