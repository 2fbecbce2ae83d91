/**
 * A private 6-node Redis Cluster (3 primaries, 3 replicas) for the bench's `ours-redis-cluster`
 * server, started on first use and stopped (by PID) with `stopBenchCluster`.
 */
import { startCluster, type OwnCluster } from '../packages/elysia-server-session/tests/redis-cluster-helpers'

let cluster: OwnCluster | undefined

/** REDIS_CLUSTER_NODES of the bench's cluster, which starts now if it is not running. */
export async function benchCluster(): Promise<string> {
  cluster ??= await startCluster()
  return cluster.seeds
}

export async function stopBenchCluster(): Promise<void> {
  await cluster?.stop()
  cluster = undefined
}
