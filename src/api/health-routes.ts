import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client';

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `/healthz`: the process runs. `/readyz`: Postgres and Temporal answer. */
export function healthRouter(db: Db, temporal: Client): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 2000);
        return 'ok';
      } catch {
        return 'unavailable';
      }
    };
    const [postgres, temporalStatus] = await Promise.all([
      check(() => db.execute(sql`select 1`)),
      check(() => temporal.workflowService.getSystemInfo({})),
    ]);
    const ready = postgres === 'ok' && temporalStatus === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: { postgres, temporal: temporalStatus } });
  });
  return router;
}
