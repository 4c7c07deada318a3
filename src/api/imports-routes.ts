import busboy from 'busboy';
import { Router, type Request } from 'express';
import type { Readable } from 'node:stream';
import { IMPORT_ROW_ACTIONS, type ImportRowAction } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { FILE_ERROR_CODES } from '../imports/columns';
import { storable } from '../text';
import { writeErrorReport, writeInvalidRows } from '../imports/error-report';
import { presentImport, presentPreviewRow } from '../imports/present';
import { IMPORT_DELIMITERS, IMPORT_ENCODINGS, IMPORT_FORMATS, IMPORT_MODES, IMPORT_PRESETS } from '../imports/options';
import { getImport, listImportRows, listImports, PERSONAL_FIELDS } from '../imports/queries';
import { cancelImport, confirmImport, parseUploadOptions, retryImport, startImport, storeImportUpload } from '../imports/service';
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

  return router;
}

// ---- OpenAPI (merged into /openapi.json). Local helpers: openapi.ts imports this module, so its values are not
// defined yet while this one loads. ----

const errorRef = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const json = (description: string, schema: Record<string, unknown>) => ({ description, content: { 'application/json': { schema } } });
const csv = (description: string) => ({ description, content: { 'text/csv': { schema: { type: 'string' } } } });
const pageParameters = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' } },
];
const idParameter = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const security = [{ operatorToken: [] }];
const count = { type: 'integer', minimum: 0 };
const time = { type: 'string', format: 'date-time' };

const importObject = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    status: {
      enum: ['VALIDATING', 'AWAITING_CONFIRMATION', 'RUNNING', 'COMPLETED', 'COMPLETED_WITH_ERRORS', 'REJECTED', 'FAILED', 'CANCELLED', 'EXPIRED'],
    },
    file_name: { type: 'string' },
    file_sha256: { type: 'string' },
    file_bytes: count,
    operator: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, email: { type: 'string' } } },
    total_rows: count,
    valid_rows: count,
    invalid_rows: count,
    to_create: count,
    to_update: count,
    to_unchanged: count,
    processed_rows: count,
    created_count: count,
    updated_count: count,
    unchanged_count: count,
    skipped_count: { ...count, description: 'invalid rows, skipped' },
    failed_rows: { ...count, description: 'rows of chunks that failed to write' },
    chunks: { type: 'object', properties: { total: count, completed: count, failed: count } },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    error: {
      oneOf: [{ type: 'null' }, { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } }],
      description:
        `Why the file was REJECTED (${FILE_ERROR_CODES.join(', ')}) or the import FAILED`,
    },
    workflow_id: { type: 'string', description: 'users-import-<id>' },
    created_at: time,
    confirmed_at: { ...time, type: ['string', 'null'] },
    finished_at: { ...time, type: ['string', 'null'] },
  },
};

const previewRow = {
  type: 'object',
  properties: {
    row_number: { type: 'integer', description: 'the row as a spreadsheet shows it (header = 1)' },
    vendor_data: { type: ['string', 'null'] },
    action: { enum: [...IMPORT_ROW_ACTIONS] },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { column: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } },
    },
    kept_fields: { type: 'array', items: { type: 'string' }, description: 'fields the row would change but may not (verified)' },
    raw: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: "the row as it was in the file: each header of the file with the row's cell, as text",
    },
  },
};

const page = (items: Record<string, unknown>) => ({
  type: 'object',
  properties: { results: { type: 'array', items }, next_cursor: { type: ['string', 'null'] } },
});

const savedMapping = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    headers: { type: 'array', items: { type: 'string' } },
    mapping: { type: 'object', additionalProperties: { type: ['string', 'null'] } },
    operator: { type: ['object', 'null'], properties: { id: { type: 'string' }, email: { type: 'string' } } },
    created_at: time,
    updated_at: time,
  },
};

export const importsOpenApiPaths: Record<string, unknown> = {
  '/console/users/import-mappings': {
    get: {
      summary: "The application's saved column mappings (save_mapping), most recently saved first",
      security,
      responses: { 200: json('The saved mappings', page(savedMapping)), 401: errorRef('unauthenticated'), 403: errorRef('forbidden (OWNER, ADMIN, DEVELOPER)') },
    },
  },
  '/console/users/import-mappings/{id}': {
    delete: {
      summary: 'Deletes a saved column mapping',
      security,
      parameters: [idParameter],
      responses: { 204: { description: 'Deleted' }, 401: errorRef('unauthenticated'), 403: errorRef('forbidden'), 404: errorRef('not_found') },
    },
  },
  '/console/users/import-template.csv': {
    get: {
      summary: 'The import template: the header row alone',
      security,
      responses: { 200: csv('vendor_data,display_name,full_name,email,phone,country,status,tags,metadata_json'), 401: errorRef('unauthenticated') },
    },
  },
  '/console/users/imports': {
    post: {
      summary: 'Upload a CSV file of users; it is stored, then validated in the background (status VALIDATING)',
      security,
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              required: ['file'],
              properties: {
                file: { type: 'string', format: 'binary' },
                format: { enum: [...IMPORT_FORMATS] },
                sheet: { type: 'string' },
                encoding: { enum: [...IMPORT_ENCODINGS] },
                delimiter: { enum: [...IMPORT_DELIMITERS] },
                mapping: { type: 'string', description: 'JSON object {"<header in the file>": "<template column>" or null}' },
                preset: { enum: [...IMPORT_PRESETS] },
                save_mapping: { enum: ['true', 'false'] },
                default_phone_country: { type: 'string', description: 'ISO 3166-1 alpha-2 or alpha-3' },
                mode: { enum: [...IMPORT_MODES] },
                empty_cells: { enum: ['keep', 'clear'] },
                tags_mode: { enum: ['replace', 'add'] },
                metadata_mode: { enum: ['merge', 'replace'] },
              },
            },
          },
        },
      },
      responses: {
        202: json('The import', importObject),
        400: errorRef('missing_file, invalid_multipart, request_aborted, invalid_field (a bad upload option: details name the field)'),
        401: errorRef('unauthenticated'),
        403: errorRef('forbidden (OWNER and ADMIN only)'),
        413: errorRef('file_too_large (over IMPORT_MAX_BYTES; nothing is stored)'),
        415: errorRef('unsupported_media_type (not multipart/form-data)'),
        503: errorRef('temporal_unavailable'),
      },
    },
    get: {
      summary: 'Import history, newest first',
      security,
      parameters: pageParameters,
      responses: { 200: json('A page of imports', page(importObject)), 400: errorRef('invalid_limit, invalid_cursor'), 401: errorRef('unauthenticated') },
    },
  },
  '/console/users/imports/{id}': {
    get: {
      summary: 'One import',
      security,
      parameters: [idParameter],
      responses: { 200: json('The import', importObject), 401: errorRef('unauthenticated'), 404: errorRef('not_found') },
    },
  },
  '/console/users/imports/{id}/rows': {
    get: {
      summary: 'The preview: staged rows in file order, with their action, errors and kept fields',
      security,
      parameters: [
        idParameter,
        { name: 'action', in: 'query', schema: { enum: [...IMPORT_ROW_ACTIONS] } },
        ...pageParameters,
      ],
      responses: {
        200: json('A page of rows', page(previewRow)),
        400: errorRef('invalid_filter, invalid_limit, invalid_cursor'),
        401: errorRef('unauthenticated'),
        404: errorRef('not_found'),
      },
    },
  },
  '/console/users/imports/{id}/errors.csv': {
    get: {
      summary: 'The error report: every invalid row, and every row of a chunk that failed to write',
      security,
      parameters: [idParameter],
      responses: { 200: csv('row_number,vendor_data,column,code,message,raw_row'), 401: errorRef('unauthenticated'), 404: errorRef('not_found') },
    },
  },
  '/console/users/imports/{id}/invalid-rows.csv': {
    get: {
      summary: "The invalid rows (and rows of failed chunks) in the template's columns with a last column error: fix, upload again",
      security,
      parameters: [idParameter],
      responses: { 200: csv('vendor_data,...,metadata_json,error'), 401: errorRef('unauthenticated'), 404: errorRef('not_found') },
    },
  },
  '/console/users/imports/{id}/confirm': {
    post: {
      summary: 'Confirm a validated import: the rows are written (RUNNING)',
      security,
      parameters: [idParameter],
      responses: {
        202: json('The import', importObject),
        401: errorRef('unauthenticated'),
        403: errorRef('forbidden'),
        404: errorRef('not_found'),
        409: errorRef('invalid_state (not AWAITING_CONFIRMATION)'),
      },
    },
  },
  '/console/users/imports/{id}/cancel': {
    post: {
      summary: 'Cancel an import that is validating, awaiting confirmation or running; rows already written stay',
      security,
      parameters: [idParameter],
      responses: {
        202: json('The import', importObject),
        401: errorRef('unauthenticated'),
        403: errorRef('forbidden'),
        404: errorRef('not_found'),
        409: errorRef('invalid_state'),
      },
    },
  },
  '/console/users/imports/{id}/retry': {
    post: {
      summary: 'Retry the chunks that failed to write (COMPLETED_WITH_ERRORS -> RUNNING)',
      security,
      parameters: [idParameter],
      responses: {
        202: json('The import', importObject),
        401: errorRef('unauthenticated'),
        403: errorRef('forbidden (OWNER, ADMIN and DEVELOPER only)'),
        404: errorRef('not_found'),
        409: errorRef('nothing_to_retry, invalid_state'),
      },
    },
  },
};
