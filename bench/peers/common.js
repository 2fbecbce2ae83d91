// Shared bits of the Node peers: port/host from the environment, the secret, clean SIGTERM.
export const port = Number(process.env.PORT || 3000)
export const host = process.env.HOST || '127.0.0.1'
// Every peer signs with a 32+ character secret (@fastify/session insists on that length).
export const secret = process.env.SESSION_SECRET || 'bench-secret-bench-secret-bench-secret-0123'
export function onSigterm(close) {
  process.on('SIGTERM', () => {
    try { close() } catch {}
    process.exit(0)
  })
}
