/**
 * Private Redis Clusters and Sentinel groups for tests: redis-server processes on free ports in a
 * temp folder, stopped by PID (exactly those this file started). Every wait polls for a condition.
 */
import { RedisClient } from 'bun'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './helpers'

export type OwnNode = {
  port: number
  url: string
  /** SIGKILL, like a crash; resolves once the process is gone. */
  kill(): Promise<void>
  /** SIGSTOP / SIGCONT: a node that hangs without closing its connections. */
  pause(): void
  resume(): void
  /** `INFO`/`CLUSTER` etc. on this node through a short-lived client. */
  send(command: string, args: string[]): Promise<any>
}

/** Polls `condition` every 50 ms until it holds; throws `what` after `timeoutMs`. */
export async function until(what: string, condition: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await Promise.resolve(condition()).catch((error) => {
      if (error instanceof SetupError) throw error
      return false
    })) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(50)
  }
}

async function sendTo(port: number, command: string, args: string[]): Promise<any> {
  const client = new RedisClient(`redis://127.0.0.1:${port}`, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 1000 })
  try {
    await client.connect()
    return await client.send(command, args)
  } finally {
    client.close()
  }
}

/** The handle of a redis-server (node or sentinel) of ours on `port`: killed, paused and asked by PID and port. */
function nodeOf(port: number, proc: Bun.Subprocess): OwnNode {
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      proc.kill('SIGKILL')
      await proc.exited
    },
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
    send: (command, args) => sendTo(port, command, args),
  }
}

/** A port whose cluster bus port (+10000) is valid; the bus gets its own free port. */
async function startNode(dir: string, extra: string[]): Promise<OwnNode> {
  const port = await freePort()
  const proc = Bun.spawn(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extra], {
    stdout: 'ignore',
    stderr: 'ignore',
  })
  const node = nodeOf(port, proc)
  await until(`redis-server on ${port}`, async () => (await node.send('PING', [])) === 'PONG', 10_000)
  return node
}

const info = async (node: OwnNode, section: string) => String(await node.send('INFO', [section]))

export type OwnCluster = {
  nodes: OwnNode[]
  /** `redis://127.0.0.1:port` of every node, comma-separated: REDIS_CLUSTER_NODES. */
  seeds: string
  /** The live node that is the primary for `slot`. */
  primaryOf(slot: number): Promise<OwnNode>
  /** Resolves when every node says cluster_state:ok and every replica's link is up and in sync. */
  healthy(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/** The slot ranges `node` serves as a primary (none for a replica). */
async function slotsOf(node: OwnNode): Promise<[number, number][]> {
  const self = String(await node.send('CLUSTER', ['MYID']))
  const shards: [number, number, ...unknown[]][] = await node.send('CLUSTER', ['SLOTS'])
  return shards.filter(([, , primary]) => (primary as unknown[])[2] === self).map(([from, to]) => [from, to])
}

/**
 * Whether a write on primary `node` is acknowledged by a replica within 200 ms, as the store's
 * replicated writes need: a replica that says it is in sync did not always acknowledge yet, and the
 * first replicated write of a fresh cluster then failed now and then (8 runs of scale-out-ha in 38).
 */
async function replicatesAWrite(node: OwnNode): Promise<boolean> {
  const [owned] = await slotsOf(node)
  if (!owned) return true // no slots: nothing to write
  // One connection throughout: WAIT counts the replicas that have this connection's writes.
  const client = new RedisClient(node.url, { enableOfflineQueue: false, autoReconnect: false, connectionTimeout: 1000 })
  try {
    await client.connect()
    for (let i = 0; i < 100_000; i++) {
      const key = `healthy:${i}`
      const slot = Number(await client.send('CLUSTER', ['KEYSLOT', key]))
      if (slot < owned[0] || slot > owned[1]) continue
      await client.send('SET', [key, '1', 'PX', '1000'])
      return Number(await client.send('WAIT', ['1', '200'])) >= 1
    }
    return false
  } finally {
    client.close()
  }
}

/** A 6-node cluster: 3 primaries, 3 replicas (`--cluster-replicas 1`). */
export async function startCluster(options: { nodeTimeoutMs?: number } = {}): Promise<OwnCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sessions-cluster-'))
  const nodes: OwnNode[] = []
  const alive = new Set<OwnNode>()
  for (let i = 0; i < 6; i++) {
    const bus = await freePort()
    const node = await startNode(dir, [
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-port', String(bus),
      '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 3000), '--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0',
    ])
    nodes.push(node)
    alive.add(node)
  }
  const create = Bun.spawnSync(['redis-cli', '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'])
  if (!create.success) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`)
  const living = () => nodes.filter((n) => alive.has(n))
  const cluster: OwnCluster = {
    nodes,
    seeds: nodes.map((n) => n.url).join(','),
    async primaryOf(slot) {
      for (const node of living()) {
        const role = await info(node, 'replication').catch(() => '')
        if (!role.includes('role:master')) continue
        if ((await slotsOf(node)).some(([from, to]) => slot >= from && slot <= to)) return node
      }
      throw new Error(`no live primary owns slot ${slot}`)
    },
    async healthy(timeoutMs = 30_000) {
      await until('a healthy cluster with replicas in sync', async () => {
        for (const node of living()) {
          if (!(await node.send('CLUSTER', ['INFO'])).includes('cluster_state:ok')) return false
          const replication = await info(node, 'replication')
          if (replication.includes('role:slave') && !/master_link_status:up[\s\S]*master_sync_in_progress:0/.test(replication)) return false
          if (replication.includes('role:master') && !(await replicatesAWrite(node))) return false
        }
        return true
      }, timeoutMs)
    },
    async stop() {
      await Promise.all(living().map((n) => n.kill()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  for (const node of nodes) {
    const original = node.kill
    node.kill = async () => {
      alive.delete(node)
      await original()
    }
  }
  await cluster.healthy()
  return cluster
}

export type OwnSentinels = {
  primary: OwnNode
  replica: OwnNode
  sentinels: OwnNode[]
  /** `host:port` of the sentinels, comma-separated: REDIS_SENTINELS. */
  addresses: string
  master: string
  healthy(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

/** A primary, its replica, and three sentinels (quorum 2) watching them as `master`. */
export async function startSentinels(options: { downAfterMs?: number; master?: string } = {}): Promise<OwnSentinels> {
  try {
    return await startSentinelsOnce(options)
  } catch (error) {
    // Setting up five redis-server processes on free ports can lose a port race (or a process):
    // that is the machine's doing, not the code under test, so the setup is tried once more.
    console.warn(`startSentinels: ${(error as Error).message}; starting a new group`)
    return startSentinelsOnce(options)
  }
}

async function startSentinelsOnce(options: { downAfterMs?: number; master?: string }): Promise<OwnSentinels> {
  const dir = mkdtempSync(join(tmpdir(), 'sessions-sentinel-'))
  const master = options.master ?? 'sessions'
  const sync = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0']
  const procs: Bun.Subprocess[] = []
  const primary = await startNode(dir, sync)
  const replica = await startNode(dir, [...sync, '--replicaof', '127.0.0.1', String(primary.port)])
  const sentinels: OwnNode[] = []
  for (let i = 0; i < 3; i++) {
    const port = await freePort()
    const conf = join(dir, `sentinel-${i}.conf`)
    writeFileSync(conf, [
      `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
      `sentinel monitor ${master} 127.0.0.1 ${primary.port} 2`,
      `sentinel down-after-milliseconds ${master} ${options.downAfterMs ?? 2000}`,
      `sentinel failover-timeout ${master} 3000`, `sentinel parallel-syncs ${master} 1`, '',
    ].join('\n'))
    const proc = Bun.spawn(['redis-server', conf, '--sentinel'], { stdout: 'ignore', stderr: 'ignore' })
    sentinels.push(nodeOf(port, proc))
    procs.push(proc)
  }
  const all = [primary, replica, ...sentinels]
  const dead = new Set<OwnNode>()
  for (const node of all) {
    const original = node.kill
    node.kill = async () => {
      dead.add(node)
      await original()
    }
  }
  const group: OwnSentinels = {
    primary,
    replica,
    sentinels,
    addresses: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
    master,
    async healthy(timeoutMs = 30_000) {
      await until('sentinels that agree on a primary with a replica in sync', async () => {
        const gone = sentinels.findIndex((_, i) => procs[i]!.exitCode !== null)
        if (gone !== -1) throw new SetupError(`sentinel on port ${sentinels[gone]!.port} exited with code ${procs[gone]!.exitCode}`)
        for (const sentinel of sentinels) {
          const reply = await sentinel.send('SENTINEL', ['MASTER', master])
          const fields = new Map<string, string>()
          if (Array.isArray(reply)) for (let i = 0; i < reply.length; i += 2) fields.set(String(reply[i]), String(reply[i + 1]))
          else for (const [name, value] of Object.entries(reply)) fields.set(name, String(value))
          if (fields.get('flags') !== 'master' || Number(fields.get('num-slaves')) < 1 || Number(fields.get('num-other-sentinels')) < 2) return false
        }
        return true
      }, timeoutMs)
    },
    async stop() {
      await Promise.all(all.filter((n) => !dead.has(n)).map((n) => n.kill()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await group.healthy()
  } catch (error) {
    await group.stop()
    throw error
  }
  return group
}

/** A process of the setup died: waiting longer cannot help. */
class SetupError extends Error {}
