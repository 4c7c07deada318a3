import busboy from 'busboy';
import { Router, type Request, type Response } from 'express';
import type { Readable } from 'node:stream';
import { IMPORT_ROW_ACTIONS, type ImportRowAction } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { storable } from '../text';
import { writeErrorReport, writeInvalidRows } from '../imports/error-report';
import { columnsOfHeaders, hiddenCellsOf } from '../imports/personal-data';
import { presentImport, presentPreviewRow } from '../imports/present';
import { getImport, listImportRows, listImports, PERSONAL_FIELDS } from '../imports/queries';
import {
  cancelImport,
  confirmImport,
  decideImport,
  parseUploadFields,
  pauseImport,
  resumeImport,
  retryImport,
  startImport,
  storeImportUpload,
  throttleImport,
  undoImport,
} from '../imports/service';
import { writeUndoConflicts } from '../imports/error-report';
import { approvalDecisionSchema, importPatchSchema } from '../imports/present';
import { parseBody } from './request-body';
import type { AppDeps } from './deps';
import { can } from '../auth/permissions';
import { apiKeyPrefixOf, applicationOf, operatorOf, requireApiKey, requireOperator } from './auth';
import type { Permission } from '../auth/permissions';
import type { RequestHandler } from 'express';
import { parseListParams, toPage } from './pagination';

const FILE_FIELD = 'file';

/**
 * Reads a multipart body and hands the part named `file` to `onFile` as a stream. Settles once the whole body has
 * been read (a refused file is drained, so the client always gets its answer) with what onFile settled with.
 */
function receiveFile<T>(
  req: Request,
  maxBytes: number,
  fields: Record<string, string>,
  onFile: (file: Readable, fileName: string) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // Browsers send a file name's UTF-8 bytes raw in Content-Disposition; busboy reads them as Latin-1 by default.
        defParamCharset: 'utf8',
        limits: { files: 1, fileSize: maxBytes + 1, fields: 20, parts: 25 },
      });
    } catch (err) {
      req.resume();
      reject(new DomainError('invalid', 'invalid_multipart', `the multipart body cannot be read: ${(err as Error).message}`));
      return;
    }
    let handled: Promise<T> | undefined;
    let fileStream: Readable | undefined;
    let settled = false;
    const fail = (error: DomainError) => {
      if (settled) return;
      settled = true;
      req.unpipe(parser);
      req.resume();
      fileStream?.destroy(error);
      // Wait until the file's storage has given up (and deleted what it had written) before answering.
      void (handled ?? Promise.resolve()).catch(() => undefined).then(() => reject(error));
    };
    parser.on('field', (name, value) => {
      fields[name] = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== FILE_FIELD || handled) {
        stream.resume();
        return;
      }
      fileStream = stream;
      handled = onFile(stream, info.filename ?? '');
      handled.catch(() => undefined);
    });
    parser.on('error', (err: Error) => {
      fail(new DomainError('invalid', 'invalid_multipart', `the multipart body cannot be read: ${err.message}`));
    });
    parser.on('close', () => {
      if (settled) return;
      settled = true;
      if (!handled) {
        reject(new DomainError('invalid', 'missing_file', `the multipart body has no part named "${FILE_FIELD}"`));
        return;
      }
      handled.then(resolve, reject);
    });
    req.on('close', () => {
      if (!req.complete) fail(new DomainError('invalid', 'request_aborted', 'the upload was interrupted'));
    });
    req.pipe(parser);
  });
}

function sanitizeFileName(name: string | undefined): string {
  // eslint-disable-next-line no-control-regex
  const clean = (name ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim();
  const base = clean.split(/[\\/]/).pop() ?? '';
  // storable() never cuts inside a surrogate pair (Postgres cannot store half of one).
  return storable(base === '' ? 'upload.csv' : base, 255);
}

function parseAction(value: unknown): ImportRowAction | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !(IMPORT_ROW_ACTIONS as readonly string[]).includes(value)) {
    throw new DomainError('invalid', 'invalid_filter', `action must be one of ${IMPORT_ROW_ACTIONS.join(', ')}`);
  }
  return value as ImportRowAction;
}

function parseRowCursor(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  const match = /^r(\d{1,9})$/.exec(Buffer.from(String(value), 'base64url').toString('utf8'));
  if (!match) throw new DomainError('invalid', 'invalid_cursor', 'cursor is not one this API gave out');
  return Number(match[1]);
}

const rowCursor = (rowNumber: number) => Buffer.from(`r${rowNumber}`).toString('base64url');

/**
 * The two ways in to imports: the console (`/console/users/imports`, an operator's bearer token, checked against the
 * role table per route) and the public bulk API (`/v3/users/imports`, the application's `x-api-key`, a full-access
 * caller). Both routers register the same handlers below, which call the same service functions: one code path.
 */
type Scheme = 'console' | 'api';

function importHandlers(deps: AppDeps, scheme: Scheme) {
  /** A console role without exports.all_columns (DEVELOPER, READER): not shown personal data. An API key has full access. */
  const restrictedCaller = (req: Request) => scheme !== 'api' && !can(operatorOf(req).role, 'exports.all_columns');
  const { db } = deps;
  const service = { db, temporal: deps.temporal, config: deps.config, storage: deps.storage };
  const idOf = (req: Request) => ({ id: String(req.params.id), applicationId: applicationOf(req) });
  return {
    /** POST /: the multipart upload (the public API also takes `auto_confirm`). */
    async upload(req: Request, res: Response) {
      if (!req.is('multipart/form-data')) {
        throw new DomainError('unsupported_media_type', 'unsupported_media_type', `the body must be multipart/form-data with the file in "${FILE_FIELD}"`);
      }
      const applicationId = applicationOf(req);
      const fields: Record<string, string> = {};
      const upload = await receiveFile(req, deps.config.imports.maxBytes, fields, (file, name) =>
        storeImportUpload(service, { applicationId, fileName: sanitizeFileName(name), file }),
      );
      // The options are read once the whole body is in: a form may send them after the file.
      const { options, autoConfirm } = await parseUploadFields(service, upload, fields, { autoConfirm: scheme === 'api' });
      const actor = scheme === 'api' ? { applicationId, apiKeyPrefix: apiKeyPrefixOf(req) } : { applicationId, operator: operatorOf(req) };
      res.status(202).json(await startImport(service, { actor, upload, options, autoConfirm }));
    },

    async list(req: Request, res: Response) {
      const { limit, cursor } = parseListParams(req.query);
      const rows = await listImports(db, { applicationId: applicationOf(req), limit, cursor });
      res.json(toPage(rows, limit, presentImport));
    },

    async get(req: Request, res: Response) {
      res.json(presentImport(await getImport(db, idOf(req))));
    },

    async rows(req: Request, res: Response) {
      const action = parseAction(req.query.action);
      const afterRow = parseRowCursor(req.query.cursor);
      const { limit } = parseListParams({ limit: req.query.limit });
      const record = await getImport(db, idOf(req));
      // Personal data in `changes` (and `raw`) only for roles that may export it.
      const restricted = restrictedCaller(req);
      const hiddenFields = restricted ? PERSONAL_FIELDS : [];
      const rows = await listImportRows(db, {
        importId: record.id,
        applicationId: record.applicationId,
        options: record.options,
        hiddenFields,
        action,
        afterRow,
        limit,
        headerColumns: columnsOfHeaders(record),
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const hidden = hiddenCellsOf(record, restricted);
      res.json({
        results: page.map((row) => presentPreviewRow(row, record.columns ?? [], hidden)),
        next_cursor: rows.length > limit && last ? rowCursor(last.rowNumber) : null,
      });
    },

    async errorsCsv(req: Request, res: Response) {
      const record = await getImport(db, idOf(req));
      res.status(200).type('text/csv; charset=utf-8').attachment(`import-${record.id}-errors.csv`);
      await writeErrorReport(db, record, res, { hidden: hiddenCellsOf(record, restrictedCaller(req)) });
      res.end();
    },

    async invalidRowsCsv(req: Request, res: Response) {
      const record = await getImport(db, idOf(req));
      res.status(200).type('text/csv; charset=utf-8').attachment(`import-${record.id}-invalid-rows.csv`);
      await writeInvalidRows(db, record, res, { hidden: hiddenCellsOf(record, restrictedCaller(req)) });
      res.end();
    },

    async confirm(req: Request, res: Response) {
      res.status(202).json(await confirmImport(service, idOf(req)));
    },

    async cancel(req: Request, res: Response) {
      res.status(202).json(await cancelImport(service, idOf(req)));
    },

    async retry(req: Request, res: Response) {
      res.status(202).json(await retryImport(service, idOf(req)));
    },

    async pause(req: Request, res: Response) {
      res.status(202).json(await pauseImport(service, idOf(req)));
    },

    async resume(req: Request, res: Response) {
      res.status(202).json(await resumeImport(service, idOf(req)));
    },

    decide: (decision: 'approve' | 'reject') => async (req: Request, res: Response) => {
      // The body is optional: {"file_sha256"} of the file the approver reviewed.
      const body = req.body !== undefined && req.body !== null && !(typeof req.body === 'object' && Object.keys(req.body as object).length === 0)
        ? parseBody(approvalDecisionSchema, req)
        : {};
      const operator = operatorOf(req);
      res.status(202).json(
        await decideImport(service, { id: String(req.params.id), applicationId: operator.applicationId, operatorId: operator.id, decision, fileSha256: body.file_sha256 }),
      );
    },

    async undo(req: Request, res: Response) {
      const operator = operatorOf(req);
      res.status(202).json(await undoImport(service, { id: String(req.params.id), applicationId: operator.applicationId, operatorId: operator.id }));
    },

    async undoConflictsCsv(req: Request, res: Response) {
      const record = await getImport(db, idOf(req));
      res.status(200).type('text/csv; charset=utf-8').attachment(`import-${record.id}-undo-conflicts.csv`);
      await writeUndoConflicts(db, record.id, res);
      res.end();
    },

    async patch(req: Request, res: Response) {
      const body = parseBody(importPatchSchema, req);
      const { id, applicationId } = idOf(req);
      // 404 for another application's import before a bad body is looked at further.
      await getImport(db, { id, applicationId });
      res.json(await throttleImport(service, { id, applicationId, chunkConcurrency: body.chunk_concurrency }));
    },
  };
}

/** The console's import endpoints (`/console/users/imports`), for the operator's own application. */
export function importsRouter(deps: AppDeps): Router {
  const router = Router();
  const h = importHandlers(deps, 'console');
  const as = (permission: Permission): RequestHandler => requireOperator(deps.db, permission);

  router.post('/', as('imports.write'), h.upload);
  router.get('/', as('imports.read'), h.list);
  router.get('/:id', as('imports.read'), h.get);
  router.get('/:id/rows', as('imports.read'), h.rows);
  router.get('/:id/errors.csv', as('imports.read'), h.errorsCsv);
  router.get('/:id/invalid-rows.csv', as('imports.read'), h.invalidRowsCsv);
  router.post('/:id/confirm', as('imports.write'), h.confirm);
  router.post('/:id/cancel', as('imports.write'), h.cancel);
  router.post('/:id/retry', as('imports.retry'), h.retry);
  router.post('/:id/pause', as('imports.control'), h.pause);
  router.post('/:id/resume', as('imports.control'), h.resume);
  for (const decision of ['approve', 'reject'] as const) router.post(`/:id/${decision}`, as('imports.approve'), h.decide(decision));
  router.post('/:id/undo', as('imports.undo'), h.undo);
  router.get('/:id/undo-conflicts.csv', as('imports.read'), h.undoConflictsCsv);
  router.patch('/:id', as('imports.control'), h.patch);
  return router;
}

/**
 * The public bulk API (`/v3/users/imports`, API.md "Public bulk API"): the same handlers with the application's
 * API key. Another application's import is 404, as in the console.
 */
export function publicImportsRouter(deps: AppDeps): Router {
  const router = Router();
  const h = importHandlers(deps, 'api');
  // On each route rather than the router: a 401 is then counted under its route in the HTTP metrics.
  const auth = requireApiKey(deps.db);
  router.post('/', auth, h.upload);
  // `/v3/users/imports` is the import history; `/v3/users/imports/` is the user whose vendor_data is `imports`
  // (API.md: `GET /v3/users/{vendor_data}/`), so that one goes on to the users' routes (which check the key).
  router.get('/', (req, _res, next) => next(new URL(req.originalUrl, 'http://x').pathname.endsWith('/') ? 'router' : undefined), auth, h.list);
  router.get('/:id', auth, h.get);
  router.get('/:id/rows', auth, h.rows);
  router.get('/:id/errors.csv', auth, h.errorsCsv);
  router.post('/:id/confirm', auth, h.confirm);
  router.post('/:id/cancel', auth, h.cancel);
  return router;
}
