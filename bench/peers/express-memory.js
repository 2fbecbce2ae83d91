// express-session with its default MemoryStore and the tutorial's counter logic, unchanged.
import { serveExpressCounter } from './express-common.js'

serveExpressCounter()
