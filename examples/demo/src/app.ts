/**
 * @module app
 * The demo web app on `elysia-server-session`: log in (with "remember me"), a flash after login
 * and logout, an account page and a devices page for signed-in users only, "log out other
 * devices", and every form protected against cross-site posts (the plugin's origin check, plus
 * the session's token in each form). Pages for signed-in users take the plugin's `{ session: 'subject' }`
 * route option; without a login they lead to the login page.
 */
import { Elysia } from 'elysia'
import { session, SessionRequiredError, subjectSessions, type SessionOptions, type SessionStore } from 'elysia-server-session'
import { demoDefaults, type DemoUser } from './config'
import { html, layout } from './html'
import { accountPage, devicesPage, homePage, loginPage } from './pages'

export type DemoData = { name: string }
export type DemoFlash = { notice: string; error: string }

export type DemoOptions = Omit<SessionOptions, 'store'> & {
  store: SessionStore
  /** Who may log in. @default demoDefaults.users */
  users?: readonly DemoUser[]
}

type Form = Record<string, string | undefined>
const field = (body: unknown, name: string) => {
  const value = (body as Form | null | undefined)?.[name]
  return typeof value === 'string' ? value : ''
}

/** Builds the app; resolves once the demo users' passwords are hashed. */
export async function createDemoApp({ store, users = demoDefaults.users, ...options }: DemoOptions) {
  const hashes = new Map(await Promise.all(users.map(async (user) => [user.name, { user, hash: await Bun.password.hash(user.password) }] as const)))
  // Against timing: an unknown name costs a verification too.
  const decoy = await Bun.password.hash(crypto.randomUUID())
  const devices = subjectSessions(store, options.now)

  return (
    new Elysia()
      .use(
        session<DemoData, DemoFlash>({
          store,
          idleTimeout: demoDefaults.idleTimeout,
          absoluteTimeout: demoDefaults.absoluteTimeout,
          rememberMe: demoDefaults.rememberMe,
          browserSessionCookie: true,
          csrf: { token: true },
          ...options,
        })
      )
      .onError(({ code, error, redirect }) => {
        // A page for signed-in users only (`{ session: 'subject' }`), asked for without a login.
        if (error instanceof SessionRequiredError) return redirect('/login', 303)
        if (code === 'NOT_FOUND') return layout('Not found', html`<p>No such page.</p>`)
      })
      .get('/', async ({ session }) => {
        const { notice, error } = await session.takeFlash()
        const user = session.get('name')
        return layout('Session demo', homePage(user), { user, notice: notice ?? error, csrf: user && (await session.csrfToken()) })
      })
      .get('/login', async ({ session, redirect }) => {
        if (session.subject) return redirect('/account', 303)
        const { notice, error } = await session.takeFlash()
        return layout('Log in', loginPage(await session.csrfToken(), users), { notice: error ?? notice })
      })
      .post('/login', async ({ session, body, redirect }) => {
        const entry = hashes.get(field(body, 'username'))
        const valid = await Bun.password.verify(field(body, 'password'), entry?.hash ?? decoy)
        if (!entry || !valid) {
          session.flash('error', 'Wrong user name or password.')
          return redirect('/login', 303)
        }
        await session.regenerate() // a new ID at login: an ID planted before it opens nothing
        session.set('name', entry.user.displayName)
        session.setSubject(entry.user.name)
        session.rememberMe(field(body, 'remember') === '1')
        session.flash('notice', `Welcome, ${entry.user.displayName}!`)
        return redirect('/account', 303)
      })
      .post('/logout', async ({ session, redirect }) => {
        await session.destroy()
        session.flash('notice', 'You are logged out.')
        return redirect('/', 303)
      })
      .get('/account', async ({ session }) => {
        const { notice } = await session.takeFlash()
        const user = session.get('name')!
        const here = (await devices.list(session.subject)).find((device) => device.key === session.handle)
        const view = { user, subject: session.subject, remembered: session.remembered, createdAt: here?.createdAt }
        return layout('Your account', accountPage(view), { user, notice, csrf: await session.csrfToken() })
      }, { session: 'subject' })
      .get('/devices', async ({ session }) => {
        const { notice } = await session.takeFlash()
        const csrf = await session.csrfToken()
        const list = await devices.list(session.subject)
        return layout('Your devices', devicesPage(list, session.handle, csrf), { user: session.get('name'), notice, csrf })
      }, { session: 'subject' })
      .post('/devices/others', async ({ session, redirect }) => {
        const count = await devices.revokeOthers(session.subject, session.handle)
        session.flash('notice', `Logged out ${count} other ${count === 1 ? 'device' : 'devices'}.`)
        return redirect('/devices', 303)
      }, { session: 'subject' })
      .post('/devices/revoke', async ({ session, body, redirect }) => {
        // Only the user's own sessions: a handle of someone else's is refused.
        const revoked = await devices.revoke(session.subject, field(body, 'handle'))
        session.flash('notice', revoked ? 'Logged out that device.' : 'That device was not found.')
        return redirect('/devices', 303)
      }, { session: 'subject' })
  )
}
