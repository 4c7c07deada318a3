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

/**
 * The error and its causes (Drizzle wraps the driver's error in its own `cause`), a few levels down. Plain objects
 * are walked too, not only `instanceof Error`: an error made in another realm (Node's own, under a test runner's
 * sandbox) is not an instance of this realm's Error.
 */
function* errorChain(err: unknown): Generator<{ code?: unknown; message?: unknown }> {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    yield current as { code?: unknown; message?: unknown };
    current = (current as { cause?: unknown }).cause;
  }
}

export function isDatabaseUnavailable(err: unknown): boolean {
  for (const { code, message } of errorChain(err)) {
    if (typeof code === 'string' && (CONNECTION_SQLSTATES.test(code) || NODE_CONNECTION_CODES.has(code))) return true;
    if (typeof message === 'string' && PG_CONNECTION_MESSAGES.test(message)) return true;
  }
  return false;
}

/** SQLSTATE 40P01 deadlock_detected, 40001 serialization_failure: the transaction may simply be run again. */
function isRetryableConflict(err: unknown): boolean {
  for (const { code } of errorChain(err)) if (code === '40P01' || code === '40001') return true;
  return false;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a transaction again on a transient failure; other errors pass through at once. A deadlock or serialization
 * failure: up to `conflictAttempts` runs, with a short random pause (so two victims do not collide again at once).
 * The database unreachable or the connection dropped: again and again with a growing pause (0.5 s up to 5 s) for
 * as long as `unavailableForMs` — a Postgres failover or restart takes tens of seconds, longer than an activity's
 * own retries would wait before they give the chunk up.
 */
export async function retryTransient<T>(
  run: () => Promise<T>,
  options: { conflictAttempts?: number; unavailableForMs?: number } = {},
): Promise<T> {
  const conflictAttempts = options.conflictAttempts ?? 5;
  const giveUpAt = Date.now() + (options.unavailableForMs ?? 0);
  let conflicts = 0;
  let outages = 0;
  for (;;) {
    try {
      return await run();
    } catch (err) {
      if (isRetryableConflict(err) && ++conflicts < conflictAttempts) {
        await pause(50 * conflicts + Math.random() * 100 * conflicts);
      } else if (isDatabaseUnavailable(err) && Date.now() < giveUpAt) {
        await pause(Math.min(5000, 500 * 2 ** outages++));
      } else {
        throw err;
      }
    }
  }
}
