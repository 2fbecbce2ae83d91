// Creates sessions over HTTP as fast as one core allows: `concurrency` keep-alive workers each
// GET / without a cookie and keep the `name=value` part of the Set-Cookie answer.
// Usage: bun bench/create-sessions.ts URL COUNT CONCURRENCY OUT_FILE DEADLINE_SECONDS
// Prints one JSON line: {"created":N,"failed":N,"ms":N}. Exits 1 if more than 1% failed.
const [url, countArg, concurrencyArg, outFile, deadlineArg] = process.argv.slice(2)
if (!url || !countArg || !outFile) {
  console.error('usage: create-sessions.ts URL COUNT CONCURRENCY OUT_FILE [DEADLINE_SECONDS]')
  process.exit(2)
}
const count = Number(countArg)
const concurrency = Math.max(1, Math.min(Number(concurrencyArg ?? 64), count))
const deadline = performance.now() + Number(deadlineArg ?? 900) * 1000

const cookies: string[] = new Array(count)
let next = 0
let created = 0
let failed = 0
let lastFailure = ''

async function worker() {
  while (performance.now() < deadline) {
    const i = next++
    if (i >= count) return
    try {
      const res = await fetch(url!, { headers: { connection: 'keep-alive' } })
      await res.arrayBuffer()
      const set = res.headers.getSetCookie()[0]
      if (res.status === 200 && set) {
        cookies[i] = set.slice(0, set.indexOf(';') < 0 ? undefined : set.indexOf(';'))
        created++
      } else {
        failed++
        lastFailure = `HTTP ${res.status}${set ? '' : ' without Set-Cookie'}`
      }
    } catch (error) {
      failed++
      lastFailure = String(error)
    }
    if (failed > count / 100 + 10) {
      console.log(JSON.stringify({ created, failed, ms: 0, error: `too many failures; last: ${lastFailure}` }))
      process.exit(1)
    }
  }
}

const started = performance.now()
await Promise.all(Array.from({ length: concurrency }, worker))
const ms = performance.now() - started
await Bun.write(outFile, cookies.filter(Boolean).join('\n') + '\n')
console.log(JSON.stringify({ created, failed, ms: Math.round(ms), ...(failed ? { error: lastFailure } : {}) }))
process.exit(created >= count * 0.99 ? 0 : 1)
export {}
