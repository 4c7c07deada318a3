import type { ExportFilters } from './filters';

/** The email that tells the requesting operator an export is ready. */
export function exportEmail(params: {
  exportId: string;
  url: string;
  rowCount: number;
  fileBytes: number;
  filters: ExportFilters;
  columns: readonly string[];
  expiresAt: Date;
}): { subject: string; text: string } {
  const filterLines = Object.entries(params.filters).map(
    ([name, value]) => `  ${name}: ${Array.isArray(value) ? value.join(', ') : String(value)}`,
  );
  const rows = `${params.rowCount} ${params.rowCount === 1 ? 'row' : 'rows'}`;
  const text = [
    'Your export of users is ready.',
    '',
    `Download: ${params.url}`,
    `The link works until ${params.expiresAt.toISOString()} (UTC), without signing in; keep it to yourself.`,
    '',
    `Rows: ${params.rowCount}`,
    `Size: ${params.fileBytes} bytes`,
    `Columns: ${params.columns.join(', ')}`,
    filterLines.length > 0 ? `Filters:\n${filterLines.join('\n')}` : 'Filters: none (every user)',
    '',
    `Export id: ${params.exportId}`,
    'A fresh link can be requested from the console while the file is kept.',
  ].join('\n');
  return { subject: `Your user export is ready (${rows})`, text };
}
