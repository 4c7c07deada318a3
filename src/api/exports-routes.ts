import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { EXPORT_STATUSES, type ExportStatus } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { EXPORT_COLUMNS } from '../exports/columns';
import { exportRequestSchema, SEARCH_MAX_CHARS } from '../exports/filters';
import { exportDownloadUrl, presentExport } from '../exports/present';
import { getExport, listExports, type ExportWithOperator } from '../exports/queries';
import { reissueExportLink, requestExport } from '../exports/service';
import { createStorageSet, StorageNotFoundError, type StorageSet } from '../storage';
import type { AppDeps } from './deps';
import { operatorOf, requireOperator } from './auth';
import { requireJsonBody } from './http-errors';
import { parseListParams, toPage } from './pagination';
import { parseBody } from './request-body';

/** The export object; the link is signed by the store the file was written to (none if that store is not configured now). */
async function present(storages: StorageSet, row: ExportWithOperator, viewerId: string, baseUrl: string) {
  const store = storages.of(row.storageKind);
  const url = row.operatorId === viewerId && store ? await exportDownloadUrl(store, row, baseUrl) : null;
  return presentExport(row, url);
}

/** `/console/users/exports`: start an export, read exports, re-issue a download link. */
export function exportsRouter(deps: AppDeps): Router {
  const { db, config } = deps;
  const storages = createStorageSet(config, deps.storage);
  const router = Router();

  router.post('/', requireOperator(db, 'exports.restricted_columns'), requireJsonBody, async (req, res) => {
    const request = req.body === undefined ? {} : parseBody(exportRequestSchema, req);
    // Links are built from configuration only (PUBLIC_BASE_URL), never from the request's Host header: a forged Host
    // would otherwise put the attacker's host into the link and into the emailed link.
    const baseUrl = config.api.publicBaseUrl;
    const row = await requestExport(deps, operatorOf(req), request);
    res.status(202).json(await present(storages, row, operatorOf(req).id, baseUrl));
  });

  router.get('/', requireOperator(db, 'exports.read'), async (req, res) => {
    const { limit, cursor } = parseListParams(req.query);
    let status: ExportStatus | undefined;
    if (req.query.status !== undefined && req.query.status !== '') {
      const given = String(req.query.status).toUpperCase();
      if (!(EXPORT_STATUSES as readonly string[]).includes(given)) {
        throw new DomainError('invalid', 'invalid_filter', `status must be one of ${EXPORT_STATUSES.join(', ')}`);
      }
      status = given as ExportStatus;
    }
    const operator = operatorOf(req);
    const rows = await listExports(db, operator.applicationId, { limit, cursor, status });
    const baseUrl = config.api.publicBaseUrl;
    const page = toPage(rows, limit, (row) => row);
    res.json({
      results: await Promise.all(page.results.map((row) => present(storages, row, operator.id, baseUrl))),
      next_cursor: page.next_cursor,
    });
  });

  router.get('/:id', requireOperator(db, 'exports.read'), async (req, res) => {
    const operator = operatorOf(req);
    const row = await getExport(db, operator.applicationId, String(req.params.id));
    res.json(await present(storages, row, operator.id, config.api.publicBaseUrl));
  });

  router.post('/:id/link', requireOperator(db, 'exports.read'), async (req, res) => {
    const operator = operatorOf(req);
    const row = await reissueExportLink(deps, operator, String(req.params.id));
    if (!storages.of(row.storageKind)) {
      throw new DomainError('conflict', 'storage_unavailable', `the file is kept in ${row.storageKind ?? 'another store'}, which this service is not configured for now`);
    }
    res.json(await present(storages, row, operator.id, config.api.publicBaseUrl));
  });

  return router;
}

/**
 * `/downloads/<key>?expires=&signature=`: serves a local export file to whoever holds a link the API signed.
 * No token: the signature is the permission. An altered link or an expired one is 403; a file no longer kept, 404.
 */
export function downloadsRouter(deps: AppDeps): Router {
  const router = Router();
  // Local files only (S3 links go to S3), whatever S3_BUCKET says now: a local file exported before S3 was configured
  // keeps its link.
  const storages = createStorageSet(deps.config, deps.storage);
  router.get('/*key', async (req, res) => {
    const storage = storages.local();
    const segments = (req.params as { key?: string[] }).key ?? [];
    const key = segments.join('/');
    const check = storage.checkLink(key, req.query.expires, req.query.signature);
    if (check === 'invalid') throw new DomainError('forbidden', 'invalid_link', 'this link is not valid (it may have been altered)');
    if (check === 'expired') throw new DomainError('forbidden', 'link_expired', 'this link has expired; ask for a new one in the console');
    let size: { bytes: number } | undefined;
    try {
      size = await storage.stat(key);
    } catch {
      size = undefined;
    }
    if (!size) throw new DomainError('not_found', 'not_found', 'the file is no longer kept');
    let stream;
    try {
      stream = await storage.getStream(key);
    } catch (err) {
      if (err instanceof StorageNotFoundError) throw new DomainError('not_found', 'not_found', 'the file is no longer kept');
      throw err;
    }
    res.status(200);
    res.setHeader('content-type', 'text/csv; charset=utf-8');
    res.setHeader('content-length', String(size.bytes));
    res.setHeader('cache-control', 'private, no-store');
    res.attachment(path.posix.basename(key));
    await pipeline(stream, res).catch(() => undefined);
  });
  return router;
}

// Local helpers rather than openapi.ts's: that module imports this one, so using its values here at load time would
// depend on which of the two is loaded first.
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});
const listParameters = [
  { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
  { name: 'cursor', in: 'query', schema: { type: 'string' } },
];

const exportObjectSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    status: { enum: [...EXPORT_STATUSES] },
    filters: { type: 'object' },
    columns: { type: 'array', items: { enum: [...EXPORT_COLUMNS] } },
    operator: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, email: { type: 'string' } } },
    row_count: { type: ['integer', 'null'] },
    progress: { type: 'number', minimum: 0, maximum: 1 },
    file_bytes: { type: ['integer', 'null'] },
    file_sha256: { type: ['string', 'null'] },
    download_url: {
      type: ['string', 'null'],
      description: 'Only for the operator who requested the export, only when COMPLETED; works without a token until link_expires_at.',
    },
    link_expires_at: { type: ['string', 'null'], format: 'date-time' },
    email: {
      type: ['object', 'null'],
      properties: {
        to: { type: 'string' },
        status: { enum: ['PENDING', 'SENT', 'OUTBOX', 'FAILED'], description: 'OUTBOX: no mail service is configured; the email is stored, not sent' },
        sent_at: { type: ['string', 'null'], format: 'date-time' },
      },
    },
    error: { type: ['object', 'null'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
    workflow_id: { type: ['string', 'null'] },
    created_at: { type: 'string', format: 'date-time' },
    finished_at: { type: ['string', 'null'], format: 'date-time' },
  },
};
const exportResponse = (description: string) => ({ description, content: { 'application/json': { schema: exportObjectSchema } } });
const idPath = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
const exportRequestBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    filters: {
      type: 'object',
      additionalProperties: false,
      properties: {
        status: { type: 'array', items: { enum: ['ACTIVE', 'FLAGGED', 'BLOCKED'] }, description: 'any letter case' },
        country: { type: 'array', items: { type: 'string', description: 'ISO 3166-1 alpha-3, any letter case' } },
        tags: { type: 'array', items: { type: 'string' }, description: 'a user with any of them matches' },
        created_from: { type: 'string', format: 'date-time', description: 'inclusive' },
        created_to: { type: 'string', format: 'date-time', description: 'exclusive' },
        search: {
          type: 'string',
          maxLength: SEARCH_MAX_CHARS,
          description: 'case-insensitive substring of vendor_data, display_name, full_name, email or phone',
        },
      },
    },
    columns: {
      type: 'array',
      minItems: 1,
      items: { enum: [...EXPORT_COLUMNS] },
      description: 'written in the order given; default: every column the role may export, in this order',
    },
  },
};

/** OpenAPI paths of these endpoints (merged into /openapi.json). */
export const exportsOpenApiPaths: Record<string, unknown> = {
  '/console/users/exports': {
    post: {
      summary: 'Start a CSV export of users (runs in the background; the requester is emailed a signed link)',
      security: [{ operatorToken: [] }],
      requestBody: { required: false, content: { 'application/json': { schema: exportRequestBody } } },
      responses: {
        202: exportResponse('The export, QUEUED'),
        400: errorResponse(
          'invalid_field (details: [{field, code, message}] with code unknown_field, unknown_column, duplicate_column, ' +
            'invalid_status, invalid_country, invalid_tags, invalid_datetime, invalid_range, too_long, invalid_type), invalid_body, invalid_json',
        ),
        401: errorResponse('unauthenticated'),
        403: errorResponse('column_not_permitted (details: {columns: [...]}): personal-data columns for DEVELOPER and READER'),
        415: errorResponse('unsupported_media_type'),
        503: errorResponse('temporal_unavailable'),
      },
    },
    get: {
      summary: 'Export history, newest first',
      security: [{ operatorToken: [] }],
      parameters: [{ name: 'status', in: 'query', schema: { enum: [...EXPORT_STATUSES] } }, ...listParameters],
      responses: {
        200: {
          description: 'A page of exports',
          content: {
            'application/json': {
              schema: { type: 'object', properties: { results: { type: 'array', items: exportObjectSchema }, next_cursor: { type: ['string', 'null'] } } },
            },
          },
        },
        400: errorResponse('invalid_limit, invalid_cursor, invalid_filter'),
        401: errorResponse('unauthenticated'),
      },
    },
  },
  '/console/users/exports/{id}': {
    get: {
      summary: 'An export',
      security: [{ operatorToken: [] }],
      parameters: [idPath],
      responses: { 200: exportResponse('The export'), 401: errorResponse('unauthenticated'), 404: errorResponse('not_found') },
    },
  },
  '/console/users/exports/{id}/link': {
    post: {
      summary: 'A fresh signed download link (new link_expires_at), for the operator who requested the export',
      security: [{ operatorToken: [] }],
      parameters: [idPath],
      responses: {
        200: exportResponse('The export with its new download_url'),
        401: errorResponse('unauthenticated'),
        403: errorResponse('forbidden: not the operator who requested it'),
        404: errorResponse('not_found'),
        409: errorResponse('invalid_state: not COMPLETED, or EXPIRED (the file was deleted under retention)'),
      },
    },
  },
  '/downloads/{key}': {
    get: {
      summary: 'Download a local export file with a signed link (no token; the signature is the permission)',
      parameters: [
        { name: 'key', in: 'path', required: true, schema: { type: 'string' } },
        { name: 'expires', in: 'query', required: true, schema: { type: 'integer' } },
        { name: 'signature', in: 'query', required: true, schema: { type: 'string' } },
      ],
      responses: {
        200: { description: 'The CSV file', content: { 'text/csv': {} } },
        403: errorResponse('invalid_link (altered), link_expired'),
        404: errorResponse('not_found: the file is no longer kept'),
      },
    },
  },
};
