/**
 * What of an import's rows a role without `exports.all_columns` (DEVELOPER, READER) is shown: only the cells of the
 * columns it may export (API.md's restricted columns that an import writes). The other cells of the file (full name,
 * first and last name, email, phone, metadata, date of birth, and a header that was ignored or is not known, which
 * may hold anything) are left out of the preview's `raw` and `normalized`, blank in errors.csv's `raw_row`, and
 * invalid-rows.csv has only the columns it may see (so that the file, uploaded again, changes nothing else), as
 * `changes` already left out personal data: otherwise `raw` would show what `changes` hides.
 */

/** The template columns a restricted role may see in an import's rows. */
const SHOWN_TO_RESTRICTED: ReadonlySet<string> = new Set(['vendor_data', 'display_name', 'country', 'status', 'tags']);

/** What an import says of how its file was read: its header, each header's column, its format. */
export interface ReadHeaders {
  columns: string[] | null;
  mapping: { header: string; column: string | null }[] | null;
  detected?: unknown;
}

/** Whether the file was read as NDJSON (its header is then the template's field names). */
export function readAsNdjson(record: ReadHeaders): boolean {
  return (record.detected as { format?: string } | null | undefined)?.format === 'ndjson';
}

/**
 * The template column each header of the file was read as (null: ignored). A CSV or xlsx row's cells are in the
 * header's order (`mapping[i]` read `columns[i]`); an NDJSON file's header is the template's field names.
 */
export function columnsOfHeaders(record: ReadHeaders): (string | null)[] {
  const ndjson = readAsNdjson(record);
  return (record.columns ?? []).map((header, i) => {
    if (ndjson) return header;
    return record.mapping?.[i]?.column ?? (record.mapping ? null : header.toLowerCase());
  });
}

/**
 * For a restricted role: whether cell `i` of a row of `cells` cells is hidden; for a full-access caller: undefined
 * (nothing is). An NDJSON row whose cells do not line up with its keys (a line that could not be read, staged as its
 * whole text) is hidden whole; a CSV or xlsx row shorter or longer than the header keeps its cells' columns.
 */
export type HiddenCells = ((i: number, cells: number) => boolean) | undefined;

export function hiddenCellsOf(record: ReadHeaders, restricted: boolean): HiddenCells {
  if (!restricted) return undefined;
  const columns = columnsOfHeaders(record);
  const ndjson = readAsNdjson(record);
  return (i, cells) => {
    const column = columns[i];
    return (ndjson && cells !== columns.length) || column === undefined || column === null || !SHOWN_TO_RESTRICTED.has(column);
  };
}

/** Whether a restricted role is shown a template column's value (full_name, email, phone, metadata: not). */
export function shownToRestricted(column: string): boolean {
  return SHOWN_TO_RESTRICTED.has(column);
}
