import { sql } from 'drizzle-orm';
import {
  bigint,
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
    operatorId: uuid('operator_id')
      .notNull()
      .references(() => operators.id),
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
    createdAt: createdAt(),
    confirmedAt: tstz('confirmed_at'),
    finishedAt: tstz('finished_at'),
  },
  (t) => [index('imports_application_created_idx').on(t.applicationId, t.createdAt, t.id)],
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
    /** The row's cells as they were in the file (NUL shown as U+FFFD), in the order of the import's `columns`. */
    raw: json('raw').$type<string[]>(),
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

export const UNDO_KINDS = ['updated', 'created'] as const;
export const UNDO_OUTCOMES = ['restored', 'deleted', 'conflict'] as const;
/** Why an undo left a user as it is (undo-conflicts.csv's `reason`). */
export const UNDO_CONFLICT_REASONS = ['changed_since', 'session_since', 'deleted_since', 'no_before_image'] as const;

/**
 * What a chunk write changed, recorded in its transaction so an undo can put it back: for each user it updated the
 * whole users row as it was just before (`before`, to_jsonb of the row), for each it created only the id; with the
 * updated_at the write left (a later change moves it on). `outcome` is set by the undo, once per user. Kept
 * IMPORT_UNDO_DAYS after the import (or its undo) finished; the retention Schedule deletes older ones.
 */
export const importUndoImages = pgTable(
  'import_undo_images',
  {
    importId: uuid('import_id')
      .notNull()
      .references(() => imports.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull(),
    chunkNo: integer('chunk_no').notNull(),
    kind: text('kind', { enum: UNDO_KINDS }).notNull(),
    vendorData: text('vendor_data').notNull(),
    before: jsonb('before').$type<Record<string, unknown>>(),
    writtenUpdatedAt: tstz('written_updated_at').notNull(),
    outcome: text('outcome', { enum: UNDO_OUTCOMES }),
    reason: text('reason', { enum: UNDO_CONFLICT_REASONS }),
  },
  // One index: an undo reads a chunk's images, and a user is in one chunk of an import at most.
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
    createdAt: createdAt(),
    startedAt: tstz('started_at'),
    finishedAt: tstz('finished_at'),
  },
  (t) => [index('exports_application_created_idx').on(t.applicationId, t.createdAt, t.id)],
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
