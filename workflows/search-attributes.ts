import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Search attributes on every job workflow, so an operator can find runs in the Temporal Web UI by
 * application, job and kind. Never personal data (no emails, no vendor_data).
 * The dev server registers them at start (see src/temporal/dev-server.ts); a production namespace needs
 * `temporal operator search-attribute create` once (README, Operations).
 */
export const ApplicationId = defineSearchAttributeKey('KycApplicationId', SearchAttributeType.KEYWORD);
export const JobId = defineSearchAttributeKey('KycJobId', SearchAttributeType.KEYWORD);
export const JobKind = defineSearchAttributeKey('KycJobKind', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [
  { name: ApplicationId.name, type: 'Keyword' },
  { name: JobId.name, type: 'Keyword' },
  { name: JobKind.name, type: 'Keyword' },
] as const;
