// The express-session counter of the tutorial, unchanged, on the store given (the default
// MemoryStore when none is).
import express from 'express'
import session from 'express-session'
import { port, host, secret, onSigterm } from './common.js'

export function serveExpressCounter(store, close = () => {}) {
  const app = express()
  app.use(session({ secret, resave: false, saveUninitialized: false, ...(store && { store }) }))
  app.get('/healthz', (req, res) => { res.send('ok') })
  app.get('/', function (req, res) {
    if (req.session.page_views) {
      req.session.page_views++
      res.send('You visited this page ' + req.session.page_views + ' times')
    } else {
      req.session.page_views = 1
      res.send('Welcome to this page for the first time!')
    }
  })
  const server = app.listen(port, host)
  onSigterm(() => { server.close(); close() })
}
