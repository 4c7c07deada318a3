import { Router } from 'express';
import { listExportSchedules, getExportSchedule } from '../exports/schedule-queries';
import { createExportSchedule, deleteExportSchedule, patchExportSchedule, presentWithNextRun } from '../exports/schedule-service';
import { exportScheduleCreateSchema, exportSchedulePatchSchema } from '../exports/schedule-spec';
import type { AppDeps } from './deps';
import { operatorOf, requireOperator } from './auth';
import { requireJsonBody } from './http-errors';
import { parseListParams, toPage } from './pagination';
import { parseBody } from './request-body';

/** `/console/users/export-schedules`: create, list, read, change and delete export schedules ("manage export schedules"). */
export function exportSchedulesRouter(deps: AppDeps): Router {
  const { db } = deps;
  const router = Router();
  const allowed = requireOperator(db, 'exports.schedules');

  router.post('/', allowed, requireJsonBody, async (req, res) => {
    const body = parseBody(exportScheduleCreateSchema, req);
    res.status(201).json(await createExportSchedule(deps, operatorOf(req), body));
  });

  router.get('/', allowed, async (req, res) => {
    const { limit, cursor } = parseListParams(req.query);
    const rows = await listExportSchedules(db, { applicationId: operatorOf(req).applicationId, limit, cursor });
    const page = toPage(rows, limit, (row) => row);
    res.json({ results: await Promise.all(page.results.map((row) => presentWithNextRun(deps, row))), next_cursor: page.next_cursor });
  });

  router.get('/:id', allowed, async (req, res) => {
    const row = await getExportSchedule(db, { applicationId: operatorOf(req).applicationId, id: String(req.params.id) });
    res.json(await presentWithNextRun(deps, row));
  });

  router.patch('/:id', allowed, requireJsonBody, async (req, res) => {
    const operator = operatorOf(req);
    // Unknown schedule first (404), then the body (400).
    await getExportSchedule(db, { applicationId: operator.applicationId, id: String(req.params.id) });
    const patch = parseBody(exportSchedulePatchSchema, req);
    res.json(await patchExportSchedule(deps, operator, String(req.params.id), patch));
  });

  router.delete('/:id', allowed, async (req, res) => {
    await deleteExportSchedule(deps, operatorOf(req), String(req.params.id));
    res.status(204).end();
  });

  return router;
}
