// Floor reference, in memory: floor-common.ts's request with nothing behind the Map. Ours on the
// memory store is measured against it. `bun bench/peers/floor-memory.ts` (PORT, HOST, SESSION_SECRET).
import { floorApp, serveFloor } from './floor-common'

serveFloor(floorApp())
