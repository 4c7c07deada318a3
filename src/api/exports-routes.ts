import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { EXPORT_STATUSES, type ExportStatus } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { exportRequestSchema } from '../exports/filters';
import { recordAuditEntry } from '../audit/queries';
import { verifyExportToken } from '../exports/links';
import { exportDownloadUrl, exportFileUrl, presentExport } from '../exports/present';
import { exportContentType, findExportByLocalKey, getExport, getExportById, listExports, type ExportWithOperator } from '../exports/queries';
import { cancelExport, reissueExportLink, requestExport, retryExport, revokeExportLinks } from '../exports/service';
import { createStorageSet, StorageNotFoundError, type Storage, type StorageSet } from '../storage';
import { loadSigningSecret } from '../storage/signing';
import type { AppDeps } from './deps';
import { operatorOf, requireOperator } from './auth';
import { requireJsonBody } from './http-errors';
import { parseListParams, toPage } from './pagination';
import { parseBody } from './request-body';

/** The export object; a link only while the store the file was written to is configured. */
function present(storages: StorageSet, secret: string, row: ExportWithOperator, viewerId: string, baseUrl: string) {
  const store = storages.of(row.storageKind);
  const url = row.operatorId === viewerId && store ? exportDownloadUrl(secret, row, baseUrl) : null;
  return presentExport(row, url);
}

/** `/console/users/exports`: start an export, read exports, re-issue a download link. */
export function exportsRouter(deps: AppDeps): Router {
  const { db, config } = deps;
  const storages = createStorageSet(config, deps.storage);
  const secret = loadSigningSecret(config.storage.linkSigningSecret, config.dataDir);
  const router = Router();

  router.post('/', requireOperator(db, 'exports.restricted_columns'), requireJsonBody, async (req, res) => {
    const request = req.body === undefined ? {} : parseBody(exportRequestSchema, req);
    // Links are built from configuration only (PUBLIC_BASE_URL), never from the request's Host header: a forged Host
    // would otherwise put the attacker's host into the link and into the emailed link.
    const baseUrl = config.api.publicBaseUrl;
    const row = await requestExport(deps, operatorOf(req), request);
    res.status(202).json(present(storages, secret, row, operatorOf(req).id, baseUrl));
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
    const rows = await listExports(db, { applicationId: operator.applicationId, limit, cursor, status });
    const baseUrl = config.api.publicBaseUrl;
    const page = toPage(rows, limit, (row) => row);
    res.json({
      results: await Promise.all(page.results.map((row) => present(storages, secret, row, operator.id, baseUrl))),
      next_cursor: page.next_cursor,
    });
  });

  router.get('/:id', requireOperator(db, 'exports.read'), async (req, res) => {
    const operator = operatorOf(req);
    const row = await getExport(db, { applicationId: operator.applicationId, id: String(req.params.id) });
    res.json(present(storages, secret, row, operator.id, config.api.publicBaseUrl));
  });

  router.post('/:id/link', requireOperator(db, 'exports.read'), async (req, res) => {
    const operator = operatorOf(req);
    const row = await reissueExportLink(deps, operator, String(req.params.id));
    if (!storages.of(row.storageKind)) {
      throw new DomainError('conflict', 'storage_unavailable', `the file is kept in ${row.storageKind ?? 'another store'}, which this service is not configured for now`);
    }
    res.json(present(storages, secret, row, operator.id, config.api.publicBaseUrl));
  });

  router.post('/:id/cancel', requireOperator(db, 'exports.read'), async (req, res) => {
    const operator = operatorOf(req);
    const row = await cancelExport(deps, operator, String(req.params.id));
    res.status(202).json(present(storages, secret, row, operator.id, config.api.publicBaseUrl));
  });

  router.post('/:id/retry', requireOperator(db, 'exports.read'), async (req, res) => {
    const operator = operatorOf(req);
    const row = await retryExport(deps, operator, String(req.params.id));
    res.status(202).json(present(storages, secret, row, operator.id, config.api.publicBaseUrl));
  });

  router.delete('/:id/links', requireOperator(db, 'exports.read'), async (req, res) => {
    await revokeExportLinks(deps, operatorOf(req), String(req.params.id));
    res.status(204).end();
  });

  return router;
}

const linkRevoked = () => new DomainError('forbidden', 'link_revoked', 'this link was revoked; ask for a new one in the console');

/**
 * `/downloads/<token>`: every export link (links.ts). The token is the permission: an altered one is 403
 * `invalid_link`, a revoked one `link_revoked`, an expired one `link_expired`. Each download writes an audit entry
 * `users.export.download` (the link's operator, the export, IP, user agent); a local file is streamed, an S3 one is a
 * 302 to a presigned URL living EXPORT_REDIRECT_TTL_SECONDS.
 *
 * `/downloads/<key>?expires=&signature=`: the local links signed before the API served every link (already emailed):
 * they keep working until they expire or the export's links are revoked, and are audited like the others.
 */
export function downloadsRouter(deps: AppDeps): Router {
  const router = Router();
  const { db, config } = deps;
  const storages = createStorageSet(deps.config, deps.storage);
  const secret = loadSigningSecret(config.storage.linkSigningSecret, config.dataDir);

  /** The file of a link that checked out: the audit entry `users.export.download`, then the file or a redirect to it. */
  async function sendExport(req: Request, res: Response, row: ExportWithOperator, linkExpiresAt: Date, store = storages.of(row.storageKind)): Promise<void> {
    if (row.status !== 'COMPLETED' || !row.storageKey) throw new DomainError('not_found', 'not_found', 'the file is no longer kept');
    if (!store) {
      throw new DomainError('conflict', 'storage_unavailable', `the file is kept in ${row.storageKind ?? 'another store'}, which this service is not configured for now`);
    }
    const key = row.storageKey;
    let size: { bytes: number } | undefined;
    if (store.kind === 'local') {
      size = await store.stat(key).catch(() => undefined);
      if (!size) throw new DomainError('not_found', 'not_found', 'the file is no longer kept');
    }
    const now = new Date();
    await recordAuditEntry(db, {
      applicationId: row.applicationId,
      action: 'users.export.download',
      operatorId: row.operatorId,
      targetId: row.id,
      status: 'SUCCESS',
      details: {
        export_id: row.id,
        ip: req.ip ?? null,
        user_agent: req.get('user-agent') ?? null,
        storage: store.kind,
        link_expires_at: linkExpiresAt.toISOString(),
      },
      startedAt: now,
      finishedAt: now,
      idempotencyKey: `users.export.download:${randomUUID()}`,
    });
    res.setHeader('cache-control', 'private, no-store');
    if (store.kind === 's3') {
      res.redirect(302, await exportFileUrl(store, row, config.exports.redirectTtlSeconds, config.api.publicBaseUrl));
      return;
    }
    await sendFile(res, store, key, size!);
  }

  router.get('/:token', async (req, res) => {
    const claims = verifyExportToken(secret, String(req.params.token));
    if (!claims) throw new DomainError('forbidden', 'invalid_link', 'this link is not valid (it may have been altered)');
    let row: ExportWithOperator;
    try {
      row = await getExportById(db, claims.exportId);
    } catch (err) {
      if (err instanceof DomainError && err.kind === 'not_found') throw new DomainError('forbidden', 'invalid_link', 'this link is not valid');
      throw err;
    }
    if (row.linkGeneration !== claims.generation) throw linkRevoked();
    if (Date.now() >= claims.expiresAt.getTime()) {
      throw new DomainError('forbidden', 'link_expired', 'this link has expired; ask for a new one in the console');
    }
    await sendExport(req, res, row, claims.expiresAt);
  });

  // The old links carry no generation: they were issued before any revocation, so any revocation ends them.
  router.get('/*key', async (req, res) => {
    const segments = (req.params as { key?: string[] }).key ?? [];
    const key = segments.join('/');
    const local = storages.local();
    const check = local.checkLink(key, req.query.expires, req.query.signature);
    if (check === 'invalid') throw new DomainError('forbidden', 'invalid_link', 'this link is not valid (it may have been altered)');
    if (check === 'expired') throw new DomainError('forbidden', 'link_expired', 'this link has expired; ask for a new one in the console');
    const row = await findExportByLocalKey(db, key);
    if (!row) throw new DomainError('not_found', 'not_found', 'the file is no longer kept');
    if (row.linkGeneration !== 0) throw linkRevoked();
    // Such a link is always to a local file (even of an export from before storage_kind was recorded).
    await sendExport(req, res, row, new Date(Number(req.query.expires) * 1000), local);
  });
  return router;
}

async function sendFile(res: Response, storage: Storage, key: string, size: { bytes: number }): Promise<void> {
  let stream;
  try {
    stream = await storage.getStream(key);
  } catch (err) {
    if (err instanceof StorageNotFoundError) throw new DomainError('not_found', 'not_found', 'the file is no longer kept');
    throw err;
  }
  res.status(200);
  // attachment() also sets a type from the extension (none it knows for .ndjson): the export's own type goes after it.
  res.attachment(path.posix.basename(key));
  res.setHeader('content-type', exportContentType(key));
  res.setHeader('content-length', String(size.bytes));
  res.setHeader('cache-control', 'private, no-store');
  await pipeline(stream, res).catch(() => undefined);
}
