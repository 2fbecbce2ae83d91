// Bare Elysia hello-world on Bun: the ceiling every session server is measured against.
import { Elysia } from 'elysia'

const app = new Elysia()
  .get('/', () => 'Hello World')
  .get('/healthz', () => 'ok')
  .listen({ port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST ?? '127.0.0.1' })

process.on('SIGTERM', () => {
  app.stop()
  process.exit(0)
})
