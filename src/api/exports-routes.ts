import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { EXPORT_STATUSES, type ExportStatus } from '../../drizzle/schema';
import { DomainError } from '../errors';
import { exportRequestSchema } from '../exports/filters';
import { exportDownloadUrl, presentExport } from '../exports/present';
import { exportContentType, getExport, listExports, type ExportWithOperator } from '../exports/queries';
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
    res.setHeader('content-type', exportContentType(key));
    res.setHeader('content-length', String(size.bytes));
    res.setHeader('cache-control', 'private, no-store');
    res.attachment(path.posix.basename(key));
    await pipeline(stream, res).catch(() => undefined);
  });
  return router;
}
