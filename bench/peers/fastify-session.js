// @fastify/session (+ @fastify/cookie) with its default in-memory store, same counter logic.
import Fastify from 'fastify'
import fastifyCookie from '@fastify/cookie'
import fastifySession from '@fastify/session'
import { port, host, secret, onSigterm } from './common.js'

const app = Fastify({ logger: false })
app.register(fastifyCookie)
app.register(fastifySession, {
  secret,
  saveUninitialized: false,
  cookie: { secure: false, httpOnly: true, path: '/' },
})

app.get('/healthz', async () => 'ok')
app.get('/', async (request) => {
  const views = request.session.get('page_views')
  if (views) {
    request.session.set('page_views', views + 1)
    return 'You visited this page ' + (views + 1) + ' times'
  }
  request.session.set('page_views', 1)
  return 'Welcome to this page for the first time!'
})

app.listen({ port, host }).catch((err) => { console.error(err); process.exit(1) })
onSigterm(() => app.close())
