/**
 * Whether an error means "the database could not be reached or dropped the connection" (a failover, a restart,
 * pg_terminate_backend, a full pool), as opposed to a fault of the query. Such errors are transient: the API answers
 * 503 and the client may try again; activities retry them.
 */

// SQLSTATE classes and codes: 08 connection exception, 57P01 admin_shutdown, 57P02 crash_shutdown,
// 57P03 cannot_connect_now, 53300 too_many_connections.
const CONNECTION_SQLSTATES = /^(08...|57P0[123]|53300)$/;
const NODE_CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN']);
// What node-postgres says when a connection ends under it or cannot be had from the pool.
const PG_CONNECTION_MESSAGES =
  /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed and is not queryable/;

export function isDatabaseUnavailable(err: unknown): boolean {
  // Drizzle wraps the driver's error in its own (`cause`); look down the chain a few levels.
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_SQLSTATES.test(code) || NODE_CONNECTION_CODES.has(code))) return true;
    if (PG_CONNECTION_MESSAGES.test(current.message)) return true;
    current = current.cause;
  }
  return false;
}
