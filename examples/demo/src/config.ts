/**
 * @module config
 * The demo's fixed settings: its users (a demo has no sign-up) and the lifetimes it shows off.
 * Passwords are hashed at start (argon2id through `Bun.password`), as a real user table would
 * hold them; the plain ones below are for trying the demo and are printed on the login page.
 */

export type DemoUser = { name: string; displayName: string; password: string }

export const demoDefaults = {
  users: [
    { name: 'alice', displayName: 'Alice', password: 'wonderland' },
    { name: 'bob', displayName: 'Bob', password: 'builder' },
  ] as readonly DemoUser[],
  /** Seconds a session that is not remembered lives without a request, and at most. */
  idleTimeout: 1800,
  absoluteTimeout: 8 * 3600,
  /** "Remember me": a long lifetime, still enforced on the server. */
  rememberMe: { idleTimeout: 14 * 86_400, absoluteTimeout: 30 * 86_400 },
}
