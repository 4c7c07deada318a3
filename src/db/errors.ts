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

/** SQLSTATE 40P01 deadlock_detected, 40001 serialization_failure: the transaction may simply be run again. */
export function isRetryableConflict(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === '40P01' || code === '40001') return true;
    current = current.cause;
  }
  return false;
}

/**
 * Runs a transaction again when Postgres aborted it for a deadlock or a serialization failure, up to `attempts`
 * times with a short random pause (so two victims do not collide again at once); other errors pass through.
 */
export async function retryOnConflict<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (attempt >= attempts || !isRetryableConflict(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt + Math.random() * 100 * attempt));
    }
  }
}
