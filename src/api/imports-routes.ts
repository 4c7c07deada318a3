import busboy from 'busboy';
import { Router, type Request } from 'express';
import type { Readable } from 'node:stream';
import { IMPORT_ROW_ACTIONS, type ImportRowAction } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { storable } from '../text';
import { writeErrorReport, writeInvalidRows } from '../imports/error-report';
import { presentImport, presentPreviewRow } from '../imports/present';
import { getImport, listImportRows, listImports, PERSONAL_FIELDS } from '../imports/queries';
import {
  cancelImport,
  confirmImport,
  decideImport,
  parseUploadOptions,
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
import { applicationOf, operatorOf, requireOperator } from './auth';
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

/** The console's import endpoints (`/console/users/imports`), for the operator's own application. */
export function importsRouter(deps: AppDeps): Router {
  const router = Router();
  const { db } = deps;
  const service = { db, temporal: deps.temporal, config: deps.config, storage: deps.storage };

  router.post('/', requireOperator(db, 'imports.write'), async (req, res) => {
    if (!req.is('multipart/form-data')) {
      throw new DomainError('unsupported_media_type', 'unsupported_media_type', `the body must be multipart/form-data with the file in "${FILE_FIELD}"`);
    }
    const operator = operatorOf(req);
    const fields: Record<string, string> = {};
    const upload = await receiveFile(req, deps.config.imports.maxBytes, fields, (file, name) =>
      storeImportUpload(service, { applicationId: operator.applicationId, fileName: sanitizeFileName(name), file }),
    );
    // The options are read once the whole body is in: a form may send them after the file.
    const options = await parseUploadOptions(service, upload, fields);
    res.status(202).json(await startImport(service, { operator, upload, options }));
  });

  router.get('/', requireOperator(db, 'imports.read'), async (req, res) => {
    const { limit, cursor } = parseListParams(req.query);
    const rows = await listImports(db, { applicationId: applicationOf(req), limit, cursor });
    res.json(toPage(rows, limit, presentImport));
  });

  router.get('/:id', requireOperator(db, 'imports.read'), async (req, res) => {
    res.json(presentImport(await getImport(db, { id: String(req.params.id), applicationId: applicationOf(req) })));
  });

  router.get('/:id/rows', requireOperator(db, 'imports.read'), async (req, res) => {
    const action = parseAction(req.query.action);
    const afterRow = parseRowCursor(req.query.cursor);
    const { limit } = parseListParams({ limit: req.query.limit });
    const record = await getImport(db, { id: String(req.params.id), applicationId: applicationOf(req) });
    const hiddenFields = can(operatorOf(req).role, 'exports.all_columns') ? [] : PERSONAL_FIELDS;
    const rows = await listImportRows(db, {
      importId: record.id,
      applicationId: record.applicationId,
      options: record.options,
      hiddenFields,
      action,
      afterRow,
      limit,
    });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    res.json({ results: page.map((row) => presentPreviewRow(row, record.columns ?? [])), next_cursor: rows.length > limit && last ? rowCursor(last.rowNumber) : null });
  });

  router.get('/:id/errors.csv', requireOperator(db, 'imports.read'), async (req, res) => {
    const record = await getImport(db, { id: String(req.params.id), applicationId: applicationOf(req) });
    res.status(200).type('text/csv; charset=utf-8').attachment(`import-${record.id}-errors.csv`);
    await writeErrorReport(db, record.id, res);
    res.end();
  });

  router.get('/:id/invalid-rows.csv', requireOperator(db, 'imports.read'), async (req, res) => {
    const record = await getImport(db, { id: String(req.params.id), applicationId: applicationOf(req) });
    res.status(200).type('text/csv; charset=utf-8').attachment(`import-${record.id}-invalid-rows.csv`);
    await writeInvalidRows(db, record, res);
    res.end();
  });

  router.post('/:id/confirm', requireOperator(db, 'imports.write'), async (req, res) => {
    res.status(202).json(await confirmImport(service, { id: String(req.params.id), applicationId: applicationOf(req) }));
  });

  router.post('/:id/cancel', requireOperator(db, 'imports.write'), async (req, res) => {
    res.status(202).json(await cancelImport(service, { id: String(req.params.id), applicationId: applicationOf(req) }));
  });

  router.post('/:id/retry', requireOperator(db, 'imports.retry'), async (req, res) => {
    res.status(202).json(await retryImport(service, { id: String(req.params.id), applicationId: applicationOf(req) }));
  });

  router.post('/:id/pause', requireOperator(db, 'imports.control'), async (req, res) => {
    res.status(202).json(await pauseImport(service, { id: String(req.params.id), applicationId: applicationOf(req) }));
  });

  router.post('/:id/resume', requireOperator(db, 'imports.control'), async (req, res) => {
    res.status(202).json(await resumeImport(service, { id: String(req.params.id), applicationId: applicationOf(req) }));
  });

  for (const decision of ['approve', 'reject'] as const) {
    router.post(`/:id/${decision}`, requireOperator(db, 'imports.approve'), async (req, res) => {
      // The body is optional: {"file_sha256"} of the file the approver reviewed.
      const body = req.body !== undefined && req.body !== null && !(typeof req.body === 'object' && Object.keys(req.body as object).length === 0)
        ? parseBody(approvalDecisionSchema, req)
        : {};
      const operator = operatorOf(req);
      res.status(202).json(
        await decideImport(service, { id: String(req.params.id), applicationId: operator.applicationId, operatorId: operator.id, decision, fileSha256: body.file_sha256 }),
      );
    });
  }

  router.post('/:id/undo', requireOperator(db, 'imports.undo'), async (req, res) => {
    const operator = operatorOf(req);
    res.status(202).json(await undoImport(service, { id: String(req.params.id), applicationId: operator.applicationId, operatorId: operator.id }));
  });

  router.get('/:id/undo-conflicts.csv', requireOperator(db, 'imports.read'), async (req, res) => {
    const record = await getImport(db, { id: String(req.params.id), applicationId: applicationOf(req) });
    res.status(200).type('text/csv; charset=utf-8').attachment(`import-${record.id}-undo-conflicts.csv`);
    await writeUndoConflicts(db, record.id, res);
    res.end();
  });

  router.patch('/:id', requireOperator(db, 'imports.control'), async (req, res) => {
    const body = parseBody(importPatchSchema, req);
    const id = String(req.params.id);
    // 404 for another application's import before a bad body is looked at further.
    await getImport(db, { id, applicationId: applicationOf(req) });
    res.json(await throttleImport(service, { id, applicationId: applicationOf(req), chunkConcurrency: body.chunk_concurrency }));
  });

  return router;
}
