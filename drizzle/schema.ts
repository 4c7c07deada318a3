import { sql } from 'drizzle-orm';
import {
  bigint,
  customType,
  boolean,
  date,
  index,
  integer,
  json,
  jsonb,
  pgTable,
  primaryKey,
  real,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * The database schema. Migrations in drizzle/migrations are generated from this file with `npm run db:generate`
 * (drizzle-kit) and committed; hand-written SQL (triggers) lives in custom migrations beside them.
 */

// Millisecond precision, as JavaScript and the API's ISO 8601 times have: keyset cursors then round-trip exactly.
const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date', precision: 3 });
const createdAt = () => tstz('created_at').notNull().defaultNow();

export const ROLES = ['OWNER', 'ADMIN', 'COMPLIANCE_OFFICER', 'DEVELOPER', 'READER'] as const;
export type Role = (typeof ROLES)[number];

export const applications = pgTable('applications', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  apiKeyHash: text('api_key_hash').notNull().unique(),
  /** Approval policy (API.md "Controlling imports"): an import updating more users than this needs a second operator. */
  approvalUpdatesOver: integer('approval_updates_over'),
  /** ... and so does one that sets any of these user statuses. */
  approvalStatuses: text('approval_statuses').array(),
  createdAt: createdAt(),
});

export const operators = pgTable(
  'operators',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id),
    email: text('email').notNull(),
    role: text('role', { enum: ROLES }).notNull(),
    tokenHash: text('token_hash').notNull().unique(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('operators_application_email_key').on(t.applicationId, sql`lower(${t.email})`)],
);

export const USER_STATUSES = ['ACTIVE', 'FLAGGED', 'BLOCKED'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id),
    vendorData: text('vendor_data').notNull(),
    /** trim + lowercase of vendor_data: the key a user is found by. */
    vendorDataKey: text('vendor_data_key').notNull(),
    displayName: text('display_name'),
    fullName: text('full_name'),
    dateOfBirth: date('date_of_birth', { mode: 'string' }),
    email: text('email'),
    phone: text('phone'),
    country: text('country'),
    status: text('status', { enum: USER_STATUSES }).notNull().default('ACTIVE'),
    tags: text('tags').array().notNull().default(sql`'{}'::text[]`),
    metadata: jsonb('metadata').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    verifiedFields: text('verified_fields').array().notNull().default(sql`'{}'::text[]`),
    sessionCount: integer('session_count').notNull().default(0),
    approvedCount: integer('approved_count').notNull().default(0),
    declinedCount: integer('declined_count').notNull().default(0),
    inReviewCount: integer('in_review_count').notNull().default(0),
    createdAt: createdAt(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('users_application_vendor_data_key').on(t.applicationId, t.vendorDataKey),
    index('users_application_created_idx').on(t.applicationId, t.createdAt, t.id),
  ],
);

export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const AUDIT_ACTIONS = ['users.import', 'users.export', 'users.import.undo', 'users.export.download'] as const;
export const AUDIT_STATUSES = ['SUCCESS', 'FAILURE'] as const;

/** Append-only: a trigger (migration 0001) refuses UPDATE and DELETE. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id),
    action: text('action').notNull(),
    operatorId: uuid('operator_id').references(() => operators.id),
    /** The first 12 characters of the API key that started the job (public API); null when an operator did. */
    apiKeyPrefix: text('api_key_prefix'),
    targetId: uuid('target_id'),
    status: text('status', { enum: AUDIT_STATUSES }).notNull(),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
    /** Makes the write of an entry idempotent: a retried activity finds its entry there and adds none. */
    idempotencyKey: text('idempotency_key').notNull().unique(),
    createdAt: createdAt(),
  },
  (t) => [index('audit_log_application_created_idx').on(t.applicationId, t.createdAt, t.id)],
);

export const IMPORT_STATUSES = [
  'VALIDATING',
  'AWAITING_CONFIRMATION',
  'RUNNING',
  'COMPLETED',
  'COMPLETED_WITH_ERRORS',
  'REJECTED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
  'AWAITING_APPROVAL',
  'PAUSED',
  'UNDOING',
  'UNDONE',
] as const;
export type ImportStatus = (typeof IMPORT_STATUSES)[number];

/**
 * The statuses that count against IMPORT_ACTIVE_PER_APPLICATION ("validating or running"): a paused import is still
 * a running one, and an undo writes as an import does.
 */
export const ACTIVE_IMPORT_STATUSES = ['VALIDATING', 'RUNNING', 'PAUSED', 'UNDOING'] as const satisfies readonly ImportStatus[];

export const imports = pgTable(
  'imports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id),
    /** The operator who started the import; null for one started through the public API (then api_key_prefix). */
    operatorId: uuid('operator_id').references(() => operators.id),
    /** The first 12 characters of the API key that started the import through the public API; null for the console. */
    apiKeyPrefix: text('api_key_prefix'),
    /** `auto_confirm=true` (public API): the workflow confirms the import itself once it is validated. */
    autoConfirm: boolean('auto_confirm').notNull().default(false),
    status: text('status', { enum: IMPORT_STATUSES }).notNull().default('VALIDATING'),
    fileName: text('file_name').notNull(),
    fileSha256: text('file_sha256').notNull(),
    fileBytes: bigint('file_bytes', { mode: 'number' }).notNull(),
    /** Where the uploaded file is kept; null once deleted under retention. */
    storageKey: text('storage_key'),
    /** The file's columns, as read from its header. */
    columns: text('columns').array(),
    /** The upload's options as given (API.md "Files from other systems"), and what was detected while reading. */
    options: jsonb('options').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    detected: jsonb('detected').$type<Record<string, unknown>>(),
    /** How each header of the file was read: [{header, column, source}]. */
    mapping: jsonb('mapping').$type<{ header: string; column: string | null; source: string }[]>(),
    totalRows: integer('total_rows').notNull().default(0),
    validRows: integer('valid_rows').notNull().default(0),
    invalidRows: integer('invalid_rows').notNull().default(0),
    toCreate: integer('to_create').notNull().default(0),
    toUpdate: integer('to_update').notNull().default(0),
    toUnchanged: integer('to_unchanged').notNull().default(0),
    processedRows: integer('processed_rows').notNull().default(0),
    createdCount: integer('created_count').notNull().default(0),
    updatedCount: integer('updated_count').notNull().default(0),
    unchangedCount: integer('unchanged_count').notNull().default(0),
    skippedCount: integer('skipped_count').notNull().default(0),
    failedRows: integer('failed_rows').notNull().default(0),
    chunksTotal: integer('chunks_total').notNull().default(0),
    chunksCompleted: integer('chunks_completed').notNull().default(0),
    chunksFailed: integer('chunks_failed').notNull().default(0),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    workflowId: text('workflow_id'),
    /** Chunks written at once (IMPORT_CHUNK_CONCURRENCY when it started; PATCH chunk_concurrency changes it). */
    chunkConcurrency: integer('chunk_concurrency'),
    /** Whether its chunk writes record the before-images an undo needs: false when IMPORT_UNDO_DAYS was 0 (undo off). */
    undoRecorded: boolean('undo_recorded').notNull().default(true),
    /** Whether the application's policy asked for a second operator on confirm, and why. */
    approvalRequired: boolean('approval_required').notNull().default(false),
    approvalReasons: jsonb('approval_reasons').$type<string[]>(),
    /** APPROVED or REJECTED, by whom and when. */
    approvalDecision: text('approval_decision', { enum: ['APPROVED', 'REJECTED'] }),
    approvalDecidedBy: uuid('approval_decided_by').references(() => operators.id),
    approvalDecidedAt: tstz('approval_decided_at'),
    /** The undo (API.md "Controlling imports"): RUNNING while UNDOING, COMPLETED once UNDONE; null when never asked. */
    undoStatus: text('undo_status', { enum: ['RUNNING', 'COMPLETED'] }),
    undoRequestedBy: uuid('undo_requested_by').references(() => operators.id),
    undoRequestedAt: tstz('undo_requested_at'),
    undoRestored: integer('undo_restored').notNull().default(0),
    undoDeleted: integer('undo_deleted').notNull().default(0),
    undoConflicts: integer('undo_conflicts').notNull().default(0),
    undoFinishedAt: tstz('undo_finished_at'),
    /** The undo was asked for by the on-call CLI (no operator; undo_requested_by is null): `cli`. Null for an operator. */
    undoRequestedActor: text('undo_requested_actor', { enum: ['cli'] }),
    /**
     * When the import's durable progress last moved: its status, or its row and chunk counts (a chunk written or
     * failed, an undo chunk done). Set by a trigger (migration oncall_progress), whatever code path moved them; `imports stuck`
     * lists the active imports whose progress_at is older than N minutes.
     */
    progressAt: tstz('progress_at').notNull().defaultNow(),
    /**
     * The write rate's base: when the import last went (back) to RUNNING and its processed_rows then; rows_per_second
     * is measured from here (src/imports/rate.ts).
     */
    rateSince: tstz('rate_since'),
    rateBaseRows: integer('rate_base_rows').notNull().default(0),
    createdAt: createdAt(),
    confirmedAt: tstz('confirmed_at'),
    finishedAt: tstz('finished_at'),
  },
  (t) => [
    index('imports_application_created_idx').on(t.applicationId, t.createdAt, t.id),
    // `imports stuck`: the active imports by how long their progress has not moved.
    index('imports_active_progress_idx').on(t.progressAt).where(sql`${t.status} IN ('VALIDATING', 'RUNNING', 'UNDOING')`),
  ],
);

/** Saved column mappings: an application's mapping for files with a given set of headers (`save_mapping`). */
export const importMappings = pgTable(
  'import_mappings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id, { onDelete: 'cascade' }),
    /** headerSetKey() of the headers: the lookup key. */
    headersKey: text('headers_key').notNull(),
    headers: text('headers').array().notNull(),
    mapping: jsonb('mapping').$type<Record<string, string | null>>().notNull(),
    operatorId: uuid('operator_id').references(() => operators.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('import_mappings_application_headers_idx').on(t.applicationId, t.headersKey)],
);

export const IMPORT_ROW_ACTIONS = ['create', 'update', 'unchanged', 'invalid'] as const;
export type ImportRowAction = (typeof IMPORT_ROW_ACTIONS)[number];

/**
 * Staging: every data row of an import with its verdict. A value column is null when the row does not give that
 * field (absent column or empty cell), which means "leave it as it is". Written once per import by a set-based
 * INSERT of up to a million rows, so it carries only what the reads need: no foreign key (a per-row trigger) and
 * one small index for the invalid rows; the other reads go by primary key (a chunk is a range of row numbers).
 */
export const importRows = pgTable(
  'import_rows',
  {
    importId: uuid('import_id').notNull(),
    rowNumber: integer('row_number').notNull(),
    chunkNo: integer('chunk_no'),
    vendorData: text('vendor_data'),
    vendorDataKey: text('vendor_data_key'),
    action: text('action', { enum: IMPORT_ROW_ACTIONS }).notNull(),
    errors: jsonb('errors').$type<{ column: string; code: string; message: string }[]>(),
    keptFields: text('kept_fields').array(),
    displayName: text('display_name'),
    fullName: text('full_name'),
    email: text('email'),
    phone: text('phone'),
    country: text('country'),
    status: text('status'),
    tags: text('tags').array(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    /** The values the rules normalised, `[{field, from, to}]`; null when none. */
    normalized: jsonb('normalized').$type<{ field: string; from: string; to: string }[]>(),
    /**
     * The row's cells as they were in the file (NUL shown as U+FFFD), in the order of the import's `columns`; null
     * when they are exactly the text of the staged values, which are then read back as the cells
     * (src/imports/raw-cells.ts).
     */
    raw: json('raw').$type<string[]>(),
    /** The metadata_json cell's text of a row whose `raw` is null (jsonb does not keep the text); else null. */
    metadataCell: text('metadata_cell'),
  },
  (t) => [
    primaryKey({ columns: [t.importId, t.rowNumber] }),
    index('import_rows_invalid_idx').on(t.importId, t.rowNumber).where(sql`${t.action} = 'invalid'`),
  ],
);

export const CHUNK_STATUSES = ['PENDING', 'COMPLETED', 'FAILED'] as const;

export const importChunks = pgTable(
  'import_chunks',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => imports.id, { onDelete: 'cascade' }),
    chunkNo: integer('chunk_no').notNull(),
    firstRow: integer('first_row').notNull(),
    lastRow: integer('last_row').notNull(),
    rowCount: integer('row_count').notNull(),
    status: text('status', { enum: CHUNK_STATUSES }).notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    createdCount: integer('created_count').notNull().default(0),
    updatedCount: integer('updated_count').notNull().default(0),
    unchangedCount: integer('unchanged_count').notNull().default(0),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.chunkNo] })],
);

/** Why an undo left a user as it is (undo-conflicts.csv's `reason`). */
export const UNDO_CONFLICT_REASONS = ['changed_since', 'session_since', 'deleted_since', 'no_before_image'] as const;

/**
 * A whole-row value of `users` (Postgres' composite type of the table), in an array: what a chunk write keeps of the
 * users it updated. Read back with `unnest`, each element is a users row, restored column by column. Stored as is
 * (`STORAGE EXTERNAL` in the migration: no compression) because that is what costs least in the chunk's transaction:
 * for a chunk of 5,000 updates, the rows one per image (to_jsonb of each, one index entry each) took 400 ms beside the
 * update's 300 ms, this one array 40-50 ms (README, "Undo" under Decisions). A column of this type keeps `ALTER TABLE users ALTER
 * COLUMN ... TYPE` from running while images are kept: such a migration must convert or delete them first.
 */
const usersRows = customType<{ data: string; driverData: string }>({ dataType: () => 'users[]' });

/**
 * What a chunk write changed, recorded in its transaction (one row per chunk) so an undo can put it back: the whole
 * users row, as it was just before, of each user it updated (`before`); the id and vendor_data of each user it created
 * (`created_ids`, `created_vendor_data`, in step) and of each it updated through ON CONFLICT, which has no before-image
 * (`no_image_ids`, `no_image_vendor_data`); and the updated_at it wrote (the transaction's `now()`, the same for all:
 * a later change moves a user's on). The undo of the chunk is one transaction that sets `undone_at`. Kept
 * IMPORT_UNDO_DAYS after the import (or its undo) finished; the retention Schedule deletes older ones.
 */
export const importUndoChunks = pgTable(
  'import_undo_chunks',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => imports.id, { onDelete: 'cascade' }),
    chunkNo: integer('chunk_no').notNull(),
    writtenUpdatedAt: tstz('written_updated_at').notNull(),
    before: usersRows('before').notNull().default(sql`'{}'`),
    createdIds: uuid('created_ids').array().notNull().default(sql`'{}'`),
    createdVendorData: text('created_vendor_data').array().notNull().default(sql`'{}'`),
    noImageIds: uuid('no_image_ids').array().notNull().default(sql`'{}'`),
    noImageVendorData: text('no_image_vendor_data').array().notNull().default(sql`'{}'`),
    undoneAt: tstz('undone_at'),
  },
  (t) => [primaryKey({ columns: [t.importId, t.chunkNo] })],
);

/** The users an undo left as they were, with why (undo-conflicts.csv), written by the chunk's undo transaction. */
export const importUndoConflicts = pgTable(
  'import_undo_conflicts',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => imports.id, { onDelete: 'cascade' }),
    chunkNo: integer('chunk_no').notNull(),
    userId: uuid('user_id').notNull(),
    vendorData: text('vendor_data').notNull(),
    reason: text('reason', { enum: UNDO_CONFLICT_REASONS }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.importId, t.chunkNo, t.userId] })],
);

export const EXPORT_STATUSES = ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'EXPIRED'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];
/** OUTBOX: no mail service is configured; the email is stored, not sent. */
export const EMAIL_STATUSES = ['PENDING', 'SENT', 'OUTBOX', 'FAILED'] as const;

export const exportsTable = pgTable(
  'exports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id),
    operatorId: uuid('operator_id')
      .notNull()
      .references(() => operators.id),
    status: text('status', { enum: EXPORT_STATUSES }).notNull().default('QUEUED'),
    filters: jsonb('filters').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    columns: text('columns').array().notNull(),
    /** The file's format (`csv` or `ndjson`), whether it is gzip-compressed, and whether a UTF-8 BOM comes first. */
    format: text('format', { enum: EXPORT_FORMATS }).notNull().default('csv'),
    gzip: boolean('gzip').notNull().default(false),
    excelBom: boolean('excel_bom').notNull().default(false),
    /**
     * The search filter covers only vendor_data and display_name (the requester's role, DEVELOPER or READER, may not
     * export the personal data a search of email, full_name or phone would reveal); fixed when the export is requested.
     */
    searchRestricted: boolean('search_restricted').notNull().default(false),
    rowCount: integer('row_count'),
    /** The planner's estimate of the rows to write (exact for small exports); progress is measured against it. */
    estimatedRows: integer('estimated_rows'),
    progress: real('progress').notNull().default(0),
    fileBytes: bigint('file_bytes', { mode: 'number' }),
    fileSha256: text('file_sha256'),
    storageKey: text('storage_key'),
    /**
     * The store the file is written to (`local` or `s3`), recorded when the export starts: links and downloads use
     * that store even after S3_BUCKET changes. Null for exports made before it was recorded (the configured store).
     */
    storageKind: text('storage_kind', { enum: ['local', 's3'] }),
    /** How the file is being written (the storage's composite state: S3 multipart upload, scratch prefix). */
    upload: jsonb('upload').$type<Record<string, unknown>>(),
    /** When the current link was signed; with link_expires_at it makes the signed URL reproducible. */
    linkIssuedAt: tstz('link_issued_at'),
    linkExpiresAt: tstz('link_expires_at'),
    /** Every link carries the generation it was signed with; `DELETE .../links` raises it, so older links are revoked. */
    linkGeneration: integer('link_generation').notNull().default(0),
    emailTo: text('email_to'),
    emailStatus: text('email_status', { enum: EMAIL_STATUSES }),
    emailSentAt: tstz('email_sent_at'),
    errorCode: text('error_code'),
    errorMessage: text('error_message'),
    workflowId: text('workflow_id'),
    /** The write rate's base: when the export last started or was retried, and the rows its parts held then. */
    rateSince: tstz('rate_since'),
    rateBaseRows: integer('rate_base_rows').notNull().default(0),
    /** The export schedule whose run this export is (null: requested by an operator). */
    scheduleId: uuid('schedule_id').references(() => exportSchedules.id),
    /**
     * An incremental run holds the users with `changed_after < updated_at <= snapshot_at` (changed_after null: every
     * user up to snapshot_at). snapshot_at also bounds created_at, as `now()` does for any other export.
     */
    incremental: boolean('incremental').notNull().default(false),
    changedAfter: tstz('changed_after'),
    snapshotAt: tstz('snapshot_at'),
    createdAt: createdAt(),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
  },
  (t) => [index('exports_application_created_idx').on(t.applicationId, t.createdAt, t.id)],
);

/**
 * An export schedule (API.md "More on exports"): the definition of the export each run makes, run by the Temporal
 * Schedule `temporal_schedule_id`. `watermark` is the snapshot time of the last completed incremental run: the next
 * run holds the users changed after it. It moves only in the transaction that completes a run (activities/exports.ts).
 * A deleted schedule keeps its row (`deleted_at`), so the exports of its runs still name it.
 */
export const exportSchedules = pgTable(
  'export_schedules',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id),
    name: text('name').notNull(),
    filters: jsonb('filters').$type<Record<string, unknown>>().notNull().default(sql`'{}'::jsonb`),
    columns: text('columns').array().notNull(),
    format: text('format', { enum: EXPORT_FORMATS }).notNull().default('csv'),
    gzip: boolean('gzip').notNull().default(false),
    excelBom: boolean('excel_bom').notNull().default(false),
    /** Exactly one of the two: a duration as given (`1h`, `2s`) or a five-field cron expression. */
    every: text('every'),
    cron: text('cron'),
    incremental: boolean('incremental').notNull().default(false),
    paused: boolean('paused').notNull().default(false),
    temporalScheduleId: text('temporal_schedule_id').notNull(),
    watermark: tstz('watermark'),
    lastExportId: uuid('last_export_id'),
    createdBy: uuid('created_by')
      .notNull()
      .references(() => operators.id),
    createdAt: createdAt(),
    updatedAt: tstz('updated_at').notNull().defaultNow(),
    deletedAt: tstz('deleted_at'),
  },
  (t) => [index('export_schedules_application_created_idx').on(t.applicationId, t.createdAt, t.id)],
);

/** One part of an export's file: the rows of one keyset range, written by one activity. */
export const exportParts = pgTable(
  'export_parts',
  {
    exportId: uuid('export_id')
      .notNull()
      .references(() => exportsTable.id, { onDelete: 'cascade' }),
    partNo: integer('part_no').notNull(),
    status: text('status', { enum: ['PENDING', 'COMPLETED'] }).notNull().default('PENDING'),
    rowCount: integer('row_count').notNull().default(0),
    byteCount: bigint('byte_count', { mode: 'number' }).notNull().default(0),
    etag: text('etag'),
    details: jsonb('details').$type<Record<string, unknown>>(),
  },
  (t) => [primaryKey({ columns: [t.exportId, t.partNo] })],
);

/** Emails to send or sent; the outbox is the delivery record when Resend is not configured. */
export const emailOutbox = pgTable('email_outbox', {
  id: uuid('id').primaryKey().defaultRandom(),
  applicationId: uuid('application_id')
    .notNull()
    .references(() => applications.id),
  idempotencyKey: text('idempotency_key').notNull().unique(),
  toAddress: text('to_address').notNull(),
  subject: text('subject').notNull(),
  body: text('body').notNull(),
  transport: text('transport', { enum: ['outbox', 'resend'] }).notNull(),
  providerId: text('provider_id'),
  sent: boolean('sent').notNull().default(false),
  createdAt: createdAt(),
  sentAt: tstz('sent_at'),
});

/** API.md "Webhooks": the events a subscription may ask for. */
export const WEBHOOK_EVENT_TYPES = [
  'import.awaiting_confirmation',
  'import.awaiting_approval',
  'import.completed',
  'import.failed',
  'import.undone',
  'export.completed',
  'export.failed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A webhook subscription. The secret is stored as given out (the worker signs with it); it is never shown again. */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    events: text('events').array().notNull(),
    secret: text('secret').notNull(),
    operatorId: uuid('operator_id').references(() => operators.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [index('webhook_subscriptions_application_created_idx').on(t.applicationId, t.createdAt, t.id)],
);

/**
 * An event a job emitted as it reached a state: its id is deterministic (UUID v5 of the job, the type and the
 * ending), inserted in the transaction of the status change, so a retried activity adds none. `payload` is the body
 * every delivery sends; `dispatched_at` is set once a delivery workflow was started for each subscription (the
 * reconciler starts those of events left undispatched).
 */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: uuid('id').primaryKey(),
    applicationId: uuid('application_id')
      .notNull()
      .references(() => applications.id, { onDelete: 'cascade' }),
    type: text('type', { enum: WEBHOOK_EVENT_TYPES }).notNull(),
    jobId: uuid('job_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
    dispatchedAt: tstz('dispatched_at'),
  },
  (t) => [index('webhook_events_undispatched_idx').on(t.createdAt).where(sql`${t.dispatchedAt} IS NULL`)],
);

/** Each attempt to deliver an event to a subscription: what the receiver answered, or why nothing came back. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    subscriptionId: uuid('subscription_id')
      .notNull()
      .references(() => webhookSubscriptions.id, { onDelete: 'cascade' }),
    eventId: uuid('event_id')
      .notNull()
      .references(() => webhookEvents.id, { onDelete: 'cascade' }),
    /** The Temporal activity attempt (1, 2, ...). */
    attempt: integer('attempt').notNull(),
    statusCode: integer('status_code'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('webhook_deliveries_subscription_created_idx').on(t.subscriptionId, t.createdAt, t.id),
    uniqueIndex('webhook_deliveries_attempt_idx').on(t.eventId, t.subscriptionId, t.attempt),
  ],
);
