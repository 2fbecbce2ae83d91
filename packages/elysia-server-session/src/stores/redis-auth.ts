/**
 * @module redis-auth
 * Why Redis refused a connection. Bun's client reports a refused handshake (a wrong password, no
 * password where one is required, a disabled user) as "Connection closed", the same words as a
 * server that went away, and the server's reason is lost. After such a failure the store asks the
 * server itself, with the handshake Bun sends (`HELLO 3`, with `AUTH` when the URL has credentials),
 * on a connection of its own, and reports the refusal (WRONGPASS, NOAUTH, ...) as what it is.
 */

export type HandshakeRefusal = { code: string; message: string }

/** One RESP command. */
const command = (words: string[]) => `*${words.length}\r\n${words.map((w) => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`

/**
 * The error the server answers to our handshake at `url`, or `undefined` when it accepts it, when
 * it cannot be reached, or after `timeoutMs`. Never throws; sends no command beyond the handshake.
 */
export async function handshakeRefusal(url: string, timeoutMs: number): Promise<HandshakeRefusal | undefined> {
  let target: URL
  try {
    target = new URL(url)
  } catch {
    return undefined
  }
  if (target.protocol.includes('unix')) return undefined
  const words = ['HELLO', '3']
  if (target.password) words.push('AUTH', decodeURIComponent(target.username) || 'default', decodeURIComponent(target.password))
  const tls = /^(rediss|valkeys):|\+tls/.test(target.protocol)
  const { promise, resolve } = Promise.withResolvers<HandshakeRefusal | undefined>()
  let reply = ''
  const timer = setTimeout(() => resolve(undefined), timeoutMs)
  try {
    const socket = await Bun.connect({
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(target.port || 6379),
      tls,
      socket: {
        open: (s) => void s.write(command(words)),
        data(s, chunk) {
          reply += chunk.toString('latin1')
          const end = reply.indexOf('\r\n')
          if (end < 0) return
          const line = reply.slice(0, end)
          const message = line.slice(1)
          resolve(line.startsWith('-') ? { code: message.split(' ', 1)[0]!, message } : undefined)
          s.end() // after resolving: ending runs `close`, which resolves with nothing
        },
        close: () => resolve(undefined),
        error: () => resolve(undefined),
        connectError: () => resolve(undefined),
      },
    })
    void promise.finally(() => socket.end())
  } catch {
    resolve(undefined)
  }
  return promise.finally(() => clearTimeout(timer))
}
