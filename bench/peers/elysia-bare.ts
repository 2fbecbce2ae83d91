// Bare Elysia hello-world on Bun: the ceiling every session server is measured against.
// `bun bench/peers/elysia-bare.ts` serves it; bench/inprocess.ts imports `bareApp`.
import { Elysia } from 'elysia'

export const bareApp = () =>
  new Elysia().get('/', () => 'Hello World').get('/healthz', () => 'ok')

if (import.meta.main) {
  const app = bareApp().listen({ port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST ?? '127.0.0.1' })
  process.on('SIGTERM', () => {
    app.stop()
    process.exit(0)
  })
}
