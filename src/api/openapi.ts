import { z } from 'zod';
import { AUDIT_ACTIONS, EXPORT_STATUSES, IMPORT_ROW_ACTIONS, USER_STATUSES } from '../../drizzle/schema';
import { auditEntrySchema } from '../audit/queries';
import { exportRequestSchema } from '../exports/filters';
import { exportObjectSchema } from '../exports/present';
import { exportScheduleObjectSchema } from '../exports/schedule-queries';
import { exportScheduleCreateSchema, exportSchedulePatchSchema } from '../exports/schedule-spec';
import { IMPORT_COLUMNS } from '../imports/columns';
import { savedMappingSchema } from '../imports/mappings';
import { importOptionsSchema } from '../imports/options';
import { approvalDecisionSchema, importObjectSchema, importPatchSchema, previewRowSchema } from '../imports/present';
import { idSchema } from '../response-schemas';
import { userCreateSchema, userPatchSchema } from '../users/fields';
import { userObjectSchema } from '../users/queries';
import { consoleMeSchema } from './console-routes';
import { errorBodySchema } from './http-errors';
import { createdWebhookSchema, webhookDeliverySchema, webhookObjectSchema, webhookRequestSchema } from '../webhooks/queries';

/**
 * The OpenAPI 3.1 document served at `/openapi.json`. Every schema in it comes from zod: the request bodies from the
 * schemas the routes parse with, the responses from the schemas next to the presenters (which type what they return).
 * This module only says which operation takes and answers what.
 */

type JsonSchema = Record<string, unknown>;

/** JSON Schema 2020-12 (OpenAPI 3.1's dialect) of a zod schema; zod's long regexes dropped where a `format` says it. */
function jsonSchemaOptions(io: 'input' | 'output') {
  return {
    io,
    unrepresentable: 'any' as const,
    override: ({ jsonSchema }: { jsonSchema: JsonSchema }) => {
      if (jsonSchema.format !== undefined) delete jsonSchema.pattern;
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
      if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
    },
  };
}

function withoutDialect(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema;
  return rest;
}

/** What a client sends for a zod schema (its input side: before transforms). */
export function inputSchema(schema: z.ZodType): JsonSchema {
  return withoutDialect(z.toJSONSchema(schema, jsonSchemaOptions('input')) as JsonSchema);
}

const pageOf = (item: z.ZodType) => z.object({ results: z.array(item), next_cursor: z.string().nullable() });

/** components.schemas: each response schema under its name; a schema used inside another becomes a $ref to it. */
const components = {
  Error: errorBodySchema,
  User: userObjectSchema,
  UserList: pageOf(userObjectSchema),
  Import: importObjectSchema,
  ImportList: pageOf(importObjectSchema),
  PreviewRowList: pageOf(previewRowSchema),
  PreviewRow: previewRowSchema,
  SavedMappingList: pageOf(savedMappingSchema),
  SavedMapping: savedMappingSchema,
  Export: exportObjectSchema,
  ExportList: pageOf(exportObjectSchema),
  ExportSchedule: exportScheduleObjectSchema,
  ExportScheduleList: pageOf(exportScheduleObjectSchema),
  AuditEntry: auditEntrySchema,
  AuditEntryList: pageOf(auditEntrySchema),
  ConsoleMe: consoleMeSchema,
  Webhook: webhookObjectSchema,
  WebhookCreated: createdWebhookSchema,
  WebhookList: pageOf(webhookObjectSchema),
  WebhookDelivery: webhookDeliverySchema,
  WebhookDeliveryList: pageOf(webhookDeliverySchema),
};
type ComponentName = keyof typeof components;

/** The response schemas by name, for tests that check real answers against the document. */
export const responseSchemas: Readonly<Record<ComponentName, z.ZodType>> = components;

function componentSchemas(): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(components)) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { ...jsonSchemaOptions('output'), uri: (id) => `#/components/schemas/${id}` });
  return Object.fromEntries(Object.entries(schemas).map(([id, schema]) => [id, withoutDialect(schema as JsonSchema)]));
}

// ---- responses, parameters and bodies ----

const ref = (name: ComponentName) => ({ $ref: `#/components/schemas/${name}` });
const json = (description: string, name: ComponentName) => ({ description, content: { 'application/json': { schema: ref(name) } } });
/** An error answer; the description lists its `error.code`s. */
const error = (codes: string) => ({ description: codes, content: { 'application/json': { schema: ref('Error') } } });
const csv = (description: string) => ({ description, content: { 'text/csv': { schema: { type: 'string' } } } });

const param = (name: string, where: 'path' | 'query', schema: z.ZodType, required = where === 'path') => ({
  name,
  in: where,
  ...(required ? { required: true } : {}),
  schema: inputSchema(schema),
});
const idParam = param('id', 'path', idSchema);
const pageParams = [param('limit', 'query', z.int().min(1).max(200).default(50)), param('cursor', 'query', z.string())];
const jsonBody = (schema: z.ZodType, required = true) => ({ required, content: { 'application/json': { schema: inputSchema(schema) } } });

const apiKey = [{ apiKey: [] }];
const operatorToken = [{ operatorToken: [] }];
const unauthenticated = error('unauthenticated');

/** The upload form: the file and the options of "Files from other systems", as multipart text fields. */
const uploadForm = importOptionsSchema.extend({ file: z.string().meta({ format: 'binary' }) });
const publicUploadForm = uploadForm.extend({
  auto_confirm: z.enum(['true', 'false']).optional().meta({ description: 'true: the import confirms itself once validated (the approval policy still applies)' }),
});

// ---- paths ----

const healthPaths = {
  '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: 'The process runs' } } } },
  '/readyz': {
    get: { summary: 'Readiness: Postgres and Temporal answer', responses: { 200: { description: 'Ready' }, 503: { description: 'Not ready' } } },
  },
  '/metrics': {
    get: {
      summary:
        "Prometheus metrics: HTTP requests by route pattern and status, latency histograms, the jobs in the database by kind and status, the longest an import has gone without progress, the process's (README, Metrics)",
      responses: { 200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  },
};

const vendorDataParam = param('vendor_data', 'path', z.string().meta({ description: 'URL-encoded; matched trimmed, case-insensitive' }));

const usersPaths = {
  '/v3/users/create/': {
    post: {
      summary: 'Create a user',
      security: apiKey,
      requestBody: jsonBody(userCreateSchema),
      responses: {
        201: json('The user', 'User'),
        400: error('invalid_field (details: [{field, code, message}]), invalid_json'),
        401: unauthenticated,
        409: error('vendor_data_conflict'),
        415: error('unsupported_media_type'),
      },
    },
  },
  '/v3/users/': {
    get: {
      summary: 'List users, newest first',
      security: apiKey,
      parameters: [
        param('status', 'query', z.enum(USER_STATUSES)),
        param('country', 'query', z.string()),
        param('search', 'query', z.string()),
        ...pageParams,
      ],
      responses: { 200: json('A page of users', 'UserList'), 400: error('invalid_filter, invalid_limit, invalid_cursor'), 401: unauthenticated },
    },
  },
  '/v3/users/{vendor_data}/': {
    get: {
      summary: 'Get a user by vendor_data (trimmed, case-insensitive)',
      security: apiKey,
      parameters: [vendorDataParam],
      responses: { 200: json('The user', 'User'), 401: unauthenticated, 404: error('not_found') },
    },
    patch: {
      summary: 'Update the given fields (metadata merged key by key; verified fields and counters kept)',
      security: apiKey,
      parameters: [vendorDataParam],
      requestBody: jsonBody(userPatchSchema),
      responses: {
        200: json('The user', 'User'),
        400: error('invalid_field'),
        401: unauthenticated,
        404: error('not_found'),
        409: error('vendor_data_conflict'),
      },
    },
  },
};

/**
 * The public bulk API (`/v3/users/imports`, API.md "Public bulk API"): the console's import routes that it serves, with
 * the API key instead of an operator's token (no role: no 403), and `auto_confirm` in the upload.
 */
function publicImportPaths(): Record<string, Record<string, Record<string, unknown>>> {
  const served: Record<string, string[]> = {
    '/console/users/imports': ['post', 'get'],
    '/console/users/imports/{id}': ['get'],
    '/console/users/imports/{id}/rows': ['get'],
    '/console/users/imports/{id}/errors.csv': ['get'],
    '/console/users/imports/{id}/confirm': ['post'],
    '/console/users/imports/{id}/cancel': ['post'],
  };
  const paths: Record<string, Record<string, Record<string, unknown>>> = {};
  for (const [path, methods] of Object.entries(served)) {
    const console = (importPaths as Record<string, Record<string, Record<string, unknown>>>)[path];
    const entry: Record<string, Record<string, unknown>> = {};
    for (const method of methods) {
      const { 403: _forbidden, ...responses } = console[method].responses as Record<string, unknown>;
      entry[method] = { ...console[method], security: apiKey, responses };
      if (path === '/console/users/imports' && method === 'post') {
        entry[method].summary = `${String(console[method].summary)}; with auto_confirm=true it is written without a confirm`;
        entry[method].requestBody = { required: true, content: { 'multipart/form-data': { schema: inputSchema(publicUploadForm) } } };
      }
    }
    paths[path.replace('/console/users/imports', '/v3/users/imports')] = entry;
  }
  return paths;
}

const importPaths = {
  '/console/users/import-mappings': {
    get: {
      summary: "The application's saved column mappings (save_mapping), most recently saved first",
      security: operatorToken,
      responses: { 200: json('The saved mappings', 'SavedMappingList'), 401: unauthenticated, 403: error('forbidden (OWNER, ADMIN, DEVELOPER)') },
    },
  },
  '/console/users/import-mappings/{id}': {
    delete: {
      summary: 'Deletes a saved column mapping',
      security: operatorToken,
      parameters: [idParam],
      responses: { 204: { description: 'Deleted' }, 401: unauthenticated, 403: error('forbidden'), 404: error('not_found') },
    },
  },
  '/console/users/import-template.csv': {
    get: {
      summary: 'The import template: the header row alone',
      security: operatorToken,
      responses: { 200: csv(IMPORT_COLUMNS.join(',')), 401: unauthenticated },
    },
  },
  '/console/users/imports': {
    post: {
      summary: 'Upload a file of users; it is stored, then validated in the background (status VALIDATING)',
      security: operatorToken,
      requestBody: { required: true, content: { 'multipart/form-data': { schema: inputSchema(uploadForm) } } },
      responses: {
        202: json('The import', 'Import'),
        400: error('missing_file, invalid_multipart, request_aborted, invalid_field (a bad upload option: details name the field)'),
        401: unauthenticated,
        403: error('forbidden (OWNER and ADMIN only)'),
        413: error('file_too_large (over IMPORT_MAX_BYTES; nothing is stored)'),
        415: error('unsupported_media_type (not multipart/form-data)'),
        429: error('too_many_active_imports (IMPORT_ACTIVE_PER_APPLICATION imports validating or running; nothing is stored)'),
        503: error('temporal_unavailable'),
      },
    },
    get: {
      summary: 'Import history, newest first',
      security: operatorToken,
      parameters: pageParams,
      responses: { 200: json('A page of imports', 'ImportList'), 400: error('invalid_limit, invalid_cursor'), 401: unauthenticated },
    },
  },
  '/console/users/imports/{id}': {
    get: {
      summary: 'One import',
      security: operatorToken,
      parameters: [idParam],
      responses: { 200: json('The import', 'Import'), 401: unauthenticated, 404: error('not_found') },
    },
    patch: {
      summary: 'Change how many chunks a RUNNING or PAUSED import writes at once (1 to 16), without a restart',
      security: operatorToken,
      parameters: [idParam],
      requestBody: jsonBody(importPatchSchema),
      responses: {
        200: json('The import', 'Import'),
        400: error('invalid_field (details: [{field, code}]: invalid_chunk_concurrency, unknown_field, required), invalid_json, invalid_body'),
        401: unauthenticated,
        403: error('forbidden (OWNER, ADMIN and DEVELOPER only)'),
        404: error('not_found'),
        409: error('invalid_state (not RUNNING or PAUSED, or its workflow is not writing)'),
        415: error('unsupported_media_type'),
      },
    },
  },
  '/console/users/imports/{id}/pause': {
    post: {
      summary: 'Pause a RUNNING import (PAUSED): no new chunk starts until resumed; the chunks in flight finish',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        202: json('The import', 'Import'),
        401: unauthenticated,
        403: error('forbidden (OWNER, ADMIN and DEVELOPER only)'),
        404: error('not_found'),
        409: error('invalid_state (not RUNNING, or its workflow is not writing)'),
      },
    },
  },
  '/console/users/imports/{id}/approve': {
    post: {
      summary: 'Approve an import AWAITING_APPROVAL (RUNNING); never by the operator who started it',
      security: operatorToken,
      parameters: [idParam],
      requestBody: jsonBody(approvalDecisionSchema, false),
      responses: {
        202: json('The import', 'Import'),
        400: error('invalid_field (file_sha256 not a SHA-256)'),
        401: unauthenticated,
        403: error('approver_is_requester, forbidden (OWNER, ADMIN and COMPLIANCE_OFFICER only)'),
        404: error('not_found'),
        409: error('invalid_state (not AWAITING_APPROVAL), file_changed (file_sha256 is not the import file\'s)'),
        429: error('too_many_active_imports'),
      },
    },
  },
  '/console/users/imports/{id}/reject': {
    post: {
      summary: "Reject an import AWAITING_APPROVAL (REJECTED, error.code approval_rejected); never by the operator who started it",
      security: operatorToken,
      parameters: [idParam],
      requestBody: jsonBody(approvalDecisionSchema, false),
      responses: {
        202: json('The import', 'Import'),
        400: error('invalid_field (file_sha256 not a SHA-256)'),
        401: unauthenticated,
        403: error('approver_is_requester, forbidden (OWNER, ADMIN and COMPLIANCE_OFFICER only)'),
        404: error('not_found'),
        409: error('invalid_state (not AWAITING_APPROVAL), file_changed'),
      },
    },
  },
  '/console/users/imports/{id}/resume': {
    post: {
      summary: 'Resume a PAUSED import (RUNNING)',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        202: json('The import', 'Import'),
        401: unauthenticated,
        403: error('forbidden (OWNER, ADMIN and DEVELOPER only)'),
        404: error('not_found'),
        409: error('invalid_state (not PAUSED)'),
      },
    },
  },
  '/console/users/imports/{id}/rows': {
    get: {
      summary: 'The preview: staged rows in file order, with their action, errors and kept fields',
      security: operatorToken,
      parameters: [idParam, param('action', 'query', z.enum(IMPORT_ROW_ACTIONS)), ...pageParams],
      responses: {
        200: json('A page of rows', 'PreviewRowList'),
        400: error('invalid_filter, invalid_limit, invalid_cursor'),
        401: unauthenticated,
        404: error('not_found'),
      },
    },
  },
  '/console/users/imports/{id}/errors.csv': {
    get: {
      summary:
        'The error report: every invalid row, and every row of a chunk that failed to write (for DEVELOPER and READER, raw_row holds only the cells of vendor_data, display_name, country, status and tags)',
      security: operatorToken,
      parameters: [idParam],
      responses: { 200: csv('row_number,vendor_data,column,code,message,raw_row'), 401: unauthenticated, 404: error('not_found') },
    },
  },
  '/console/users/imports/{id}/undo': {
    post: {
      summary:
        'Undo a COMPLETED, COMPLETED_WITH_ERRORS or CANCELLED import finished within IMPORT_UNDO_DAYS (UNDOING, then UNDONE): ' +
        'updated users get their values of before the import back, created users are deleted, users changed or verified since are left as conflicts',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        202: json('The import', 'Import'),
        401: unauthenticated,
        403: error('forbidden (OWNER and ADMIN only)'),
        404: error('not_found'),
        409: error('invalid_state (not COMPLETED, COMPLETED_WITH_ERRORS or CANCELLED, undone already, or finished more than IMPORT_UNDO_DAYS ago)'),
        429: error('too_many_active_imports'),
      },
    },
  },
  '/console/users/imports/{id}/undo-conflicts.csv': {
    get: {
      summary: 'The users the undo left as they are, with why: changed_since, session_since, deleted_since or no_before_image',
      security: operatorToken,
      parameters: [idParam],
      responses: { 200: csv('vendor_data,reason'), 401: unauthenticated, 404: error('not_found') },
    },
  },
  '/console/users/imports/{id}/invalid-rows.csv': {
    get: {
      summary:
        "The invalid rows (and rows of failed chunks) in the template's columns with a last column error: fix, upload again (for DEVELOPER and READER the personal-data columns are blank)",
      security: operatorToken,
      parameters: [idParam],
      responses: { 200: csv('vendor_data,...,metadata_json,error'), 401: unauthenticated, 404: error('not_found') },
    },
  },
  '/console/users/imports/{id}/confirm': {
    post: {
      summary: 'Confirm a validated import: the rows are written (RUNNING)',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        202: json('The import', 'Import'),
        401: unauthenticated,
        403: error('forbidden'),
        404: error('not_found'),
        409: error('invalid_state (not AWAITING_CONFIRMATION)'),
        429: error('too_many_active_imports'),
      },
    },
  },
  '/console/users/imports/{id}/cancel': {
    post: {
      summary: 'Cancel an import that is validating, awaiting confirmation or running; rows already written stay',
      security: operatorToken,
      parameters: [idParam],
      responses: { 202: json('The import', 'Import'), 401: unauthenticated, 403: error('forbidden'), 404: error('not_found'), 409: error('invalid_state') },
    },
  },
  '/console/users/imports/{id}/retry': {
    post: {
      summary: 'Retry the chunks that failed to write (COMPLETED_WITH_ERRORS -> RUNNING)',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        202: json('The import', 'Import'),
        401: unauthenticated,
        403: error('forbidden (OWNER, ADMIN and DEVELOPER only)'),
        404: error('not_found'),
        409: error('nothing_to_retry, invalid_state'),
        429: error('too_many_active_imports'),
      },
    },
  },
};

const exportPaths = {
  '/console/users/exports': {
    post: {
      summary: 'Start an export of users, CSV or NDJSON, optionally gzip-compressed (runs in the background; the requester is emailed a link)',
      security: operatorToken,
      requestBody: jsonBody(exportRequestSchema, false),
      responses: {
        202: json('The export, QUEUED', 'Export'),
        400: error(
          'invalid_field (details: [{field, code, message}] with code unknown_field, unknown_column, duplicate_column, ' +
            'invalid_status, invalid_country, invalid_tags, invalid_datetime, invalid_range, too_long, invalid_type, invalid_format, ' +
            'invalid_gzip, invalid_excel_bom), invalid_body, invalid_json',
        ),
        401: unauthenticated,
        403: error('column_not_permitted (details: {columns: [...]}): personal-data columns for DEVELOPER and READER'),
        415: error('unsupported_media_type'),
        503: error('temporal_unavailable'),
      },
    },
    get: {
      summary: 'Export history, newest first',
      security: operatorToken,
      parameters: [param('status', 'query', z.enum(EXPORT_STATUSES)), ...pageParams],
      responses: { 200: json('A page of exports', 'ExportList'), 400: error('invalid_limit, invalid_cursor, invalid_filter'), 401: unauthenticated },
    },
  },
  '/console/users/exports/{id}': {
    get: {
      summary: 'An export',
      security: operatorToken,
      parameters: [idParam],
      responses: { 200: json('The export', 'Export'), 401: unauthenticated, 404: error('not_found') },
    },
  },
  '/console/users/exports/{id}/link': {
    post: {
      summary: 'A fresh signed download link (new link_expires_at), for the operator who requested the export',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        200: json('The export with its new download_url', 'Export'),
        401: unauthenticated,
        403: error('forbidden: not the operator who requested it'),
        404: error('not_found'),
        409: error('invalid_state: not COMPLETED, or EXPIRED (the file was deleted under retention); storage_unavailable'),
      },
    },
  },
  '/console/users/exports/{id}/cancel': {
    post: {
      summary: 'Cancel a QUEUED or RUNNING export (the requester, OWNER, ADMIN): it ends CANCELLED, its partial file and S3 multipart upload deleted',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        202: json('The export, still QUEUED or RUNNING until its workflow has stopped', 'Export'),
        401: unauthenticated,
        403: error('forbidden: neither the requester, an OWNER nor an ADMIN'),
        404: error('not_found'),
        409: error('invalid_state: not QUEUED or RUNNING'),
        503: error('temporal_unavailable'),
      },
    },
  },
  '/console/users/exports/{id}/retry': {
    post: {
      summary: 'Retry a FAILED export (the requester, OWNER, ADMIN): it goes on from its written ranges and checkpoints',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        202: json('The export, RUNNING (QUEUED if it was never planned)', 'Export'),
        401: unauthenticated,
        403: error('forbidden: neither the requester, an OWNER nor an ADMIN'),
        404: error('not_found'),
        409: error('invalid_state: not FAILED'),
        503: error('temporal_unavailable'),
      },
    },
  },
  '/console/users/exports/{id}/links': {
    delete: {
      summary: 'Revoke every download link of an export at once (the requester, OWNER, ADMIN); POST .../link gives a new one',
      security: operatorToken,
      parameters: [idParam],
      responses: {
        204: { description: 'Revoked: every link handed out so far is 403 link_revoked' },
        401: unauthenticated,
        403: error('forbidden: neither the requester, an OWNER nor an ADMIN'),
        404: error('not_found'),
      },
    },
  },
  '/console/users/export-schedules': {
    post: {
      summary: 'Create an export schedule (OWNER, ADMIN, COMPLIANCE_OFFICER): a Temporal Schedule whose runs are normal exports as its creator',
      security: operatorToken,
      requestBody: jsonBody(exportScheduleCreateSchema),
      responses: {
        201: json('The schedule', 'ExportSchedule'),
        400: error('invalid_field (details with code required, invalid_name, invalid_every, invalid_cron, invalid_schedule, and the export body codes), invalid_body, invalid_json'),
        401: unauthenticated,
        403: error('forbidden: the role may not manage export schedules; column_not_permitted'),
        415: error('unsupported_media_type'),
        503: error('temporal_unavailable'),
      },
    },
    get: {
      summary: 'The export schedules, newest first',
      security: operatorToken,
      parameters: pageParams,
      responses: {
        200: json('A page of schedules', 'ExportScheduleList'),
        400: error('invalid_limit, invalid_cursor'),
        401: unauthenticated,
        403: error('forbidden'),
      },
    },
  },
  '/console/users/export-schedules/{id}': {
    get: {
      summary: 'An export schedule',
      security: operatorToken,
      parameters: [idParam],
      responses: { 200: json('The schedule', 'ExportSchedule'), 401: unauthenticated, 403: error('forbidden'), 404: error('not_found') },
    },
    patch: {
      summary: 'Change an export schedule: paused, every or cron (on its Temporal Schedule too), filters, columns, name',
      security: operatorToken,
      parameters: [idParam],
      requestBody: jsonBody(exportSchedulePatchSchema),
      responses: {
        200: json('The schedule', 'ExportSchedule'),
        400: error('invalid_field, invalid_body, invalid_json'),
        401: unauthenticated,
        403: error('forbidden; column_not_permitted (for the creator\'s role)'),
        404: error('not_found'),
        503: error('temporal_unavailable'),
      },
    },
    delete: {
      summary: 'Delete an export schedule and its Temporal Schedule (a run already started finishes)',
      security: operatorToken,
      parameters: [idParam],
      responses: { 204: { description: 'Deleted' }, 401: unauthenticated, 403: error('forbidden'), 404: error('not_found'), 503: error('temporal_unavailable') },
    },
  },
  '/downloads/{token}': {
    get: {
      summary:
        'Download an export with its link (no token; the link is the permission): writes an audit entry users.export.download, ' +
        'streams a local file or answers 302 to a presigned S3 URL living EXPORT_REDIRECT_TTL_SECONDS',
      parameters: [param('token', 'path', z.string().meta({ description: '<export id>.<link generation>.<expires>.<signature>' }))],
      responses: {
        200: {
          description: 'The file (local storage)',
          content: {
            'text/csv': { schema: { type: 'string' } },
            'application/x-ndjson': { schema: { type: 'string' } },
            'application/gzip': { schema: { type: 'string', format: 'binary' } },
          },
        },
        302: { description: 'To a presigned URL of the S3 object', headers: { location: { schema: { type: 'string' } } } },
        403: error('invalid_link (altered), link_revoked, link_expired'),
        404: error('not_found: the file is no longer kept'),
        409: error('storage_unavailable: the file is in a store this service is not configured for now'),
      },
    },
  },
  '/downloads/{key}': {
    get: {
      summary: 'Download a local export file with a link signed before the API served every link (until it expires or the links are revoked; audited)',
      parameters: [
        param('key', 'path', z.string()),
        param('expires', 'query', z.int(), true),
        param('signature', 'query', z.string(), true),
      ],
      responses: {
        200: csv('The CSV file'),
        403: error('invalid_link (altered), link_expired, link_revoked'),
        404: error('not_found: the file is no longer kept'),
      },
    },
  },
};

const consolePaths = {
  '/console/audit-log': {
    get: {
      summary: 'The audit log, newest first: one entry as each import or export ends; entries never change',
      security: operatorToken,
      parameters: [param('action', 'query', z.enum(AUDIT_ACTIONS)), ...pageParams],
      responses: {
        200: json('A page of entries', 'AuditEntryList'),
        400: error('invalid_filter, invalid_limit, invalid_cursor'),
        401: unauthenticated,
        403: error('forbidden: the role may not read the audit log'),
      },
    },
  },
  '/console/me': {
    get: {
      summary: 'The signed-in operator, its application, what its role may do and where the Temporal Web UI is',
      security: operatorToken,
      responses: { 200: json('The operator', 'ConsoleMe'), 401: unauthenticated },
    },
  },
};

const webhookPaths = {
  '/console/webhooks': {
    post: {
      summary: 'Subscribe a URL to events; the signing secret is in this answer only',
      security: operatorToken,
      requestBody: jsonBody(webhookRequestSchema),
      responses: {
        201: json('The subscription with its secret', 'WebhookCreated'),
        400: error('invalid_url (not https, or resolves to a loopback/private address), invalid_field (an unknown event), invalid_json'),
        401: unauthenticated,
        403: error('forbidden (OWNER, ADMIN, DEVELOPER)'),
        415: error('unsupported_media_type'),
      },
    },
    get: {
      summary: "The application's webhook subscriptions, newest first (no secrets)",
      security: operatorToken,
      parameters: pageParams,
      responses: { 200: json('A page of subscriptions', 'WebhookList'), 400: error('invalid_limit, invalid_cursor'), 401: unauthenticated, 403: error('forbidden') },
    },
  },
  '/console/webhooks/{id}': {
    delete: {
      summary: 'Deletes a subscription; its pending deliveries stop',
      security: operatorToken,
      parameters: [idParam],
      responses: { 204: { description: 'Deleted' }, 401: unauthenticated, 403: error('forbidden'), 404: error('not_found') },
    },
  },
  '/console/webhooks/{id}/deliveries': {
    get: {
      summary: "The subscription's delivery attempts, newest first: status code, time, error, duration",
      security: operatorToken,
      parameters: [idParam, ...pageParams],
      responses: {
        200: json('A page of attempts', 'WebhookDeliveryList'),
        400: error('invalid_limit, invalid_cursor'),
        401: unauthenticated,
        403: error('forbidden'),
        404: error('not_found'),
      },
    },
  },
};

/** The OpenAPI 3.1 document served at `/openapi.json`. */
export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: { title: 'KYC user bulk import and export', version: '0.1.0' },
    components: {
      securitySchemes: {
        apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        operatorToken: { type: 'http', scheme: 'bearer' },
      },
      schemas: componentSchemas(),
    },
    paths: { ...healthPaths, ...usersPaths, ...publicImportPaths(), ...importPaths, ...exportPaths, ...consolePaths, ...webhookPaths },
  };
}
