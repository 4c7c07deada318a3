import { readFileSync } from 'node:fs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { checkMappingTargets, HEADER_LIMITS, IMPORT_COLUMNS, ImportFileError, nameList, readHeader } from '../../src/imports/columns';
import { headerSetKey } from '../../src/imports/header-mapping';
import { copyJsonStrings, copyTextArray, copyValue, stagedRowLine } from '../../src/imports/copy-text';
import { CsvRecordReader } from '../../src/imports/csv-records';
import { readImportFile } from '../../src/imports/read-file';
import { cellValue, validateRow } from '../../src/imports/rows';
import type { ReadOptions } from '../../src/imports/options';
import { detectDelimiter, detectTextFormat, formatOfName, NotUtf8AfterAllError, sepLine, SNIFF_BYTES } from '../../src/imports/sniff';
import { isoDate, numberText, plainNumber } from '../../src/imports/xlsx-records';
import ExcelJS from 'exceljs';
import JSZip from 'jszip';
import iconv from 'iconv-lite';

const FIXTURES = path.join(__dirname, '../fixtures/imports');
const fixture = (name: string) => readFileSync(path.join(FIXTURES, name));

function records(text: string | string[], delimiter = ','): { record: string[]; line: number }[] {
  const out: { record: string[]; line: number }[] = [];
  const reader = new CsvRecordReader((record, line) => out.push({ record, line }), delimiter);
  for (const part of Array.isArray(text) ? text : [text]) reader.write(part);
  reader.end();
  return out;
}

/** Every way to split `text` in two, to prove chunk boundaries change nothing. */
function everySplit(text: string) {
  const whole = JSON.stringify(records(text));
  for (let i = 1; i < text.length; i++) {
    expect(JSON.stringify(records([text.slice(0, i), text.slice(i)]))).toBe(whole);
  }
}

/** Parses COPY text lines back into staged values, to check what would reach Postgres. */
function copyLines(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

async function read(input: Buffer | string, maxRows = 1000, chunkSize = 7, given: ReadOptions & { notUtf8?: boolean } = {}) {
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  const chunks: Buffer[] = [];
  for (let o = 0; o < bytes.length; o += chunkSize) chunks.push(bytes.subarray(o, o + chunkSize));
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const result = await readImportFile(Readable.from(chunks), () => sink, { ...given, maxRows, chunkRows: 2 });
  return { ...result, lines: copyLines(out) };
}

async function rejection(input: Buffer | string, maxRows = 1000, given: ReadOptions = {}): Promise<ImportFileError> {
  try {
    await read(input, maxRows, 7, given);
  } catch (err) {
    if (err instanceof ImportFileError) return err;
    throw err;
  }
  throw new Error('the file was accepted');
}

describe('CsvRecordReader', () => {
  it('reads RFC 4180: quotes, doubled quotes, commas and line breaks inside quotes, LF and CRLF', () => {
    expect(records('a,b\r\n"x, ""y""","1\n2"\nlast,\n')).toEqual([
      { record: ['a', 'b'], line: 1 },
      { record: ['x, "y"', '1\n2'], line: 2 },
      { record: ['last', ''], line: 4 },
    ]);
  });

  it('gives the same records wherever the input is split', () => {
    everySplit('h1,h2\r\n"a ""q""\r\nb",c\n,\n"",x\nend');
    everySplit('h1,h2\r"a\rb"\r\n"q" \rx,\r\r\ny\r');
  });

  it('ends records at CR alone as at LF and CRLF, counting lines alike (quoted CR, CRLF and LF are one line each)', () => {
    expect(records('a,b\r1,2\r\n3,4\n"x\ry","p\r\nq"\r"5"\r\r6,\r')).toEqual([
      { record: ['a', 'b'], line: 1 },
      { record: ['1', '2'], line: 2 },
      { record: ['3', '4'], line: 3 },
      { record: ['x\ry', 'p\r\nq'], line: 4 },
      { record: ['5'], line: 7 },
      { record: [''], line: 8 },
      { record: ['6', ''], line: 9 },
    ]);
  });

  it('reads another delimiter; commas are then data', () => {
    expect(records('a;b\n"x;y";1,5\n', ';').map((r) => r.record)).toEqual([
      ['a', 'b'],
      ['x;y', '1,5'],
    ]);
    expect(records('a\tb\nx\t\n', '\t').map((r) => r.record)).toEqual([
      ['a', 'b'],
      ['x', ''],
    ]);
  });

  it('keeps blank lines as records (spreadsheet rows) and reads a last line without a line break', () => {
    expect(records('a\n\n  \nb').map((r) => r.record)).toEqual([['a'], [''], ['  '], ['b']]);
  });

  it('keeps a quote inside an unquoted field, ignores blanks after a closing quote', () => {
    expect(records('5" screen,"x"  ,y\n').map((r) => r.record)).toEqual([['5" screen', 'x', 'y']]);
  });

  it('refuses an unclosed quote, naming the line where it opened', () => {
    expect(() => records('a,b\n1,2\n3,"4\n5,6\n')).toThrow(/line 3 \(row 3\)/);
  });

  it('refuses text after a closing quote, naming the line', () => {
    expect(() => records('a\n"b"c\n')).toThrow(/line 2/);
  });
});

describe('cells and header', () => {
  it('undoes the export formula escape and trims', () => {
    expect(cellValue("'=SUM(A1)")).toBe('=SUM(A1)');
    expect(cellValue("'+34600111222")).toBe('+34600111222');
    expect(cellValue("'-1")).toBe('-1');
    expect(cellValue("'@x")).toBe('@x');
    expect(cellValue("'\tx")).toBe('x');
    expect(cellValue("'plain")).toBe("'plain");
    expect(cellValue("'")).toBe("'");
    // A quote the export doubled (the value begins with ' then a formula start or another ').
    expect(cellValue("''=x")).toBe("'=x");
    expect(cellValue("'''")).toBe("''");
    expect(cellValue("''-5")).toBe("'-5");
    expect(cellValue("'-5")).toBe('-5');
    expect(cellValue('-5')).toBe('-5');
    expect(cellValue('  padded \r')).toBe('padded');
    expect(cellValue(undefined)).toBe('');
  });

  it('matches columns in any order and letter case; ignores the export read-only columns', () => {
    const layout = readHeader([' EMAIL ', 'id', 'Vendor_Data', 'created_at']);
    expect(layout.index).toEqual({ email: 0, vendor_data: 2 });
  });

  it('reads other systems\' headers through the built-in synonyms, and says how each was read', () => {
    const layout = readHeader(['External ID', 'first_name', 'Last-Name', 'email_address', 'PHONE_NUMBER', 'country_code', 'labels', 'created_at', 'Display_Name']);
    expect(layout.index).toEqual({ vendor_data: 0, email: 3, phone: 4, country: 5, tags: 6, display_name: 8 });
    expect(layout.nameParts).toEqual({ first: 1, last: 2 });
    expect(layout.mapping).toEqual([
      { header: 'External ID', column: 'vendor_data', source: 'synonym' },
      { header: 'first_name', column: 'first_name', source: 'synonym' },
      { header: 'Last-Name', column: 'last_name', source: 'synonym' },
      { header: 'email_address', column: 'email', source: 'synonym' },
      { header: 'PHONE_NUMBER', column: 'phone', source: 'synonym' },
      { header: 'country_code', column: 'country', source: 'synonym' },
      { header: 'labels', column: 'tags', source: 'synonym' },
      { header: 'created_at', column: null, source: 'ignored' },
      { header: 'Display_Name', column: 'display_name', source: 'exact' },
    ]);
    const row = validateRow(['u-1', 'Ana', 'García', 'a@example.com', '', '', '', '', 'Ana G'], layout, 2);
    expect(row).toMatchObject({ vendorData: 'u-1', fullName: 'Ana García', email: 'a@example.com', displayName: 'Ana G' });
    expect(validateRow(['u-2', '', 'Solo', '', '', '', '', '', ''], layout, 3).fullName).toBe('Solo');
  });

  it('resolves in the order mapping, saved mapping, preset, synonym, exact', () => {
    const headers = ['login', 'firstName', 'lastName', 'email', 'status', 'Fav'];
    const preset = readHeader(headers, { preset: 'okta', mapping: { Fav: null } });
    expect(preset.mapping.map((m) => [m.header, m.column, m.source])).toEqual([
      ['login', 'vendor_data', 'preset'],
      ['firstName', 'first_name', 'preset'],
      ['lastName', 'last_name', 'preset'],
      ['email', 'email', 'preset'],
      ['status', null, 'preset'],
      ['Fav', null, 'mapping'],
    ]);
    const saved = new Map([[headerSetKey(headers), { login: 'vendor_data', status: 'status', Fav: 'display_name' }]]);
    const fromSaved = readHeader(headers, { preset: 'okta', saved, mapping: { Fav: 'tags' } });
    expect(fromSaved.mapping.find((m) => m.header === 'status')).toEqual({ header: 'status', column: 'status', source: 'saved' });
    expect(fromSaved.mapping.find((m) => m.header === 'Fav')).toEqual({ header: 'Fav', column: 'tags', source: 'mapping' });
    expect(fromSaved.mapping.find((m) => m.header === 'firstName')?.source).toBe('preset');
    expect(checkMappingTargets({ a: 'email', b: null, c: 'first_name', d: 'id', e: 'shoe_size' })).toEqual(['shoe_size']);
  });

  it.each([
    [['vendor_data', 'email', 'Email'], 'duplicate_column', /email/],
    [['vendor_data', 'favourite_colour', 'shoe size'], 'unknown_column', /favourite_colour, shoe size/],
    [['vendor_data', 'email', 'E-mail'], 'duplicate_column', /email \(email \/ E-mail\)/],
    [['user_id', 'name', 'first_name'], 'duplicate_column', /full_name/],
    [['vendor_data', ''], 'unknown_column', /column 2 has no name/],
    [['display_name', 'email'], 'missing_column', /vendor_data/],
    [['vendor_data', 'disp\u0000lay'], 'invalid_header', /column 2/],
    [['vendor_data', 'a\u0001b'], 'invalid_header', /column 2/],
    [['vendor_data', ...Array.from({ length: HEADER_LIMITS.maxColumns }, (_, i) => `c${i}`)], 'too_many_columns', /at most 200/],
    [['vendor_data', 'x'.repeat(HEADER_LIMITS.maxBytes)], 'header_too_large', /32768 bytes/],
  ])('refuses the header %j with %s', (cells, code, message) => {
    let error: unknown;
    try {
      readHeader(cells);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ImportFileError);
    expect((error as ImportFileError).code).toBe(code);
    expect((error as ImportFileError).message).toMatch(message);
  });
});

describe('header bounds', () => {
  it('an unknown_column message names at most 20 columns, each shortened, then how many more', () => {
    const names = Array.from({ length: 150 }, (_, i) => `unknown_${i}_${'x'.repeat(100)}`);
    let error: ImportFileError | undefined;
    try {
      readHeader(['vendor_data', ...names]);
    } catch (err) {
      error = err as ImportFileError;
    }
    expect(error?.code).toBe('unknown_column');
    expect(error?.message).toMatch(/unknown_19_x+… and 130 more/);
    expect(error?.message).not.toMatch(/unknown_20_/);
    expect(error!.message.length).toBeLessThan(2000);
    expect(nameList(['a', 'b'])).toBe('a, b');
  });

  it('a header still unfinished past the byte limit is refused before the rest is read', async () => {
    let pulled = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 10_000; i++) {
          pulled++;
          yield Buffer.from(`col_${i},`.padEnd(1024, 'x'));
        }
      })(),
    );
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await expect(readImportFile(source, () => sink, { maxRows: 10, chunkRows: 2 })).rejects.toMatchObject({ code: 'header_too_large' });
    expect(pulled).toBeLessThan(100);
  });

  it('the sink is failed with a short fixed message, never the file error (it may go to Postgres as CopyFail)', async () => {
    let sinkError: Error | null = null;
    const sink = new Writable({
      write: (_c, _e, cb) => cb(),
      destroy(err, cb) {
        sinkError = err;
        cb(err);
      },
    });
    const header = `vendor_data,${Array.from({ length: 150 }, (_, i) => `n\u0000${i}`).join(',')}\n`;
    await expect(readImportFile(Readable.from([Buffer.from(header)]), () => sink, { maxRows: 10, chunkRows: 2 })).rejects.toMatchObject({
      code: 'invalid_header',
    });
    expect(sinkError).toBeInstanceOf(Error);
    expect(sinkError!.message).toBe('import file rejected');
  });

  it.each([
    ['csv', async () => Buffer.from('vendor_data\nu-1\n')],
    ['xlsx', async () => {
      const wb = new ExcelJS.Workbook();
      wb.addWorksheet('Users').addRows([['vendor_data'], ['u-1']]);
      return Buffer.from(await wb.xlsx.writeBuffer());
    }],
  ])('a %s read whose sink fails as soon as it is opened (a COPY on a lost connection) rejects with that error', async (_format, file) => {
    const bytes = await file();
    // pg answers a query on a lost connection on the next tick, by emitting 'error' on the COPY stream.
    const openSink = () => {
      const sink = new Writable({ write: (_c, _e, cb) => cb() });
      process.nextTick(() => sink.emit('error', new Error('Client has encountered a connection error and is not queryable')));
      return sink;
    };
    const source = Readable.from((async function* () {
      yield bytes.subarray(0, 10);
      await new Promise((resolve) => setImmediate(resolve));
      yield bytes.subarray(10);
    })());
    await expect(readImportFile(source, openSink, { maxRows: 10, chunkRows: 2 })).rejects.toThrow('not queryable');
  });
});

describe('validateRow', () => {
  const layout = readHeader(['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json']);
  const row = (cells: string[]) => validateRow(cells, layout, 7);

  it('normalises what it accepts; an empty cell is "not given" (null)', () => {
    expect(row([' USER-1 ', 'Ana', '', 'a@example.com', '+34600111222', 'esp', 'flagged', ' b , a ,b', '{"k":1}'])).toEqual({
      rowNumber: 7,
      vendorData: 'USER-1',
      vendorDataKey: 'user-1',
      errors: null,
      displayName: 'Ana',
      fullName: null,
      email: 'a@example.com',
      phone: '+34600111222',
      country: 'ESP',
      status: 'FLAGGED',
      tags: ['b', 'a'],
      metadata: '{"k":1}',
      normalized: [
        { field: 'country', from: 'esp', to: 'ESP' },
        { field: 'status', from: 'flagged', to: 'FLAGGED' },
      ],
      raw: [' USER-1 ', 'Ana', '', 'a@example.com', '+34600111222', 'esp', 'flagged', ' b , a ,b', '{"k":1}'],
    });
  });

  it('notes the values it normalised (country alpha-2 or name, phone formatting, letter case)', () => {
    const result = row(['u', '', '', '', ' +34 (600) 11.12-22 ', 'Spain', 'active', '', '']);
    expect(result).toMatchObject({ errors: null, phone: '+34600111222', country: 'ESP', status: 'ACTIVE' });
    expect(result.normalized).toEqual([
      { field: 'phone', from: '+34 (600) 11.12-22', to: '+34600111222' },
      { field: 'country', from: 'Spain', to: 'ESP' },
      { field: 'status', from: 'active', to: 'ACTIVE' },
    ]);
  });

  it('reads national numbers with the default phone country; without one they are invalid_phone', () => {
    const cells = ['u', '', '', '', '600 11 12 22', '', '', '', ''];
    expect(row(cells).errors).toEqual([expect.objectContaining({ column: 'phone', code: 'invalid_phone' })]);
    expect(validateRow(cells, layout, 7, { defaultPhoneCountry: 'ES' })).toMatchObject({ errors: null, phone: '+34600111222' });
  });

  it('empty_cells=clear stages an empty cell of a present optional column as "clear it"; absent columns and status stay not given', () => {
    const cleared = validateRow(['u', '', '', '', '', '', '', '', ''], layout, 7, { clearEmpty: true });
    expect(cleared).toMatchObject({ displayName: '', fullName: '', email: '', phone: '', country: '', status: null, tags: [], metadata: 'null' });
    const partial = validateRow(['u', ''], readHeader(['vendor_data', 'email']), 2, { clearEmpty: true });
    expect(partial).toMatchObject({ email: '', displayName: null, tags: null, metadata: null });
  });

  it('keeps the cells as they were in the file, NUL shown as U+FFFD, for valid and invalid rows', () => {
    expect(row(['a', 'x\u0000y']).raw).toEqual(['a', 'x\uFFFDy']);
    expect(row(['', '  spaced  ']).raw).toEqual(['', '  spaced  ']);
  });

  it('lists every problem of a row with its column and code', () => {
    const result = row(['', 'x'.repeat(256), 'y'.repeat(513), 'nope', '123', 'XX', 'gone', ',', '[1]']);
    expect(result.errors?.map((e) => [e.column, e.code])).toEqual([
      ['vendor_data', 'required'],
      ['display_name', 'too_long'],
      ['full_name', 'too_long'],
      ['email', 'invalid_email'],
      ['phone', 'invalid_phone'],
      ['country', 'invalid_country'],
      ['status', 'invalid_status'],
      ['tags', 'invalid_tags'],
      ['metadata_json', 'invalid_metadata_json'],
    ]);
    expect(result.displayName).toBeNull();
  });

  it('applies the byte limit and control characters to vendor_data', () => {
    expect(row(['v'.repeat(2000)]).errors).toBeNull();
    expect(row(['v'.repeat(2001)]).errors?.[0].code).toBe('too_long');
    expect(row(['é'.repeat(1001)]).errors?.[0].code).toBe('too_long');
    expect(row(['a\u0007b']).errors?.[0].code).toBe('invalid_characters');
    expect(row(['v'.repeat(5000)]).vendorData?.length).toBeLessThan(400);
  });

  it('refuses what Postgres cannot store: NUL in text, NUL or a lone surrogate in metadata', () => {
    expect(row(['a', 'x\u0000y']).errors?.[0]).toMatchObject({ column: 'display_name', code: 'invalid_characters' });
    expect(row(['a', '', '', '', '', '', '', '', '{"a":"\\u0000"}']).errors?.[0].code).toBe('invalid_metadata_json');
    expect(row(['a', '', '', '', '', '', '', '', '{"a":"\\ud800"}']).errors?.[0].code).toBe('invalid_metadata_json');
    expect(row(['a', '', '', '', '', '', '', '', '{"a":"\\ud83d\\ude00"}']).errors).toBeNull();
  });
});

describe('COPY text', () => {
  it('escapes backslash, tab, CR and LF and writes null as \\N', () => {
    expect(copyValue('a\\b\tc\r\nd')).toBe('a\\\\b\\tc\\r\\nd');
    expect(copyValue(null)).toBe('\\N');
    expect(copyTextArray(['a"b', 'c\\d', 'e,f'])).toBe('{"a\\\\"b","c\\\\\\\\d","e,f"}');
  });

  it('writes one line per row with sixteen columns, the raw cells and the metadata cell last', () => {
    const layout = readHeader(['vendor_data', 'display_name', 'metadata_json']);
    const row = validateRow(['x', 'multi\nline\ttab', '{"a":\t1}'], layout, 2);
    const line = stagedRowLine(row, 0);
    expect(line.endsWith('\n')).toBe(true);
    const columns = line.slice(0, -1).split('\t');
    expect(columns).toHaveLength(16);
    expect(columns[13]).toBe('\\N'); // nothing normalised
    // JSON text (JSON.stringify's \\n and \\t escapes), its backslashes doubled for COPY.
    expect(columns[14]).toBe('["x","multi\\\\nline\\\\ttab","{\\\\"a\\\\":\\\\t1}"]');
    expect(columns[15]).toBe('\\N');
    // Without its raw (the cells are the staged values' text), the metadata cell goes in metadata_cell, COPY-escaped.
    const [, , , , , , , , , , , , metadata, , raw, metadataCell] = stagedRowLine({ ...row, raw: null }, 0).slice(0, -1).split('\t');
    expect([metadata, raw, metadataCell]).toEqual(['{"a":\\t1}', '\\N', '{"a":\\t1}']);
  });

  it('writes a list of plain strings with one join, and escapes the others', () => {
    expect(copyTextArray([])).toBe('{}');
    expect(copyTextArray(['tag-1', 'tier 2'])).toBe('{"tag-1","tier 2"}');
    expect(copyTextArray(['a\tb'])).toBe('{"a\\tb"}');
    expect(copyTextArray(['a\nb'])).toBe('{"a\\nb"}');
  });

  it('writes the raw cells as JSON that Postgres can store', () => {
    expect(copyJsonStrings(['a', 'say "hi"', 'c:\\d'])).toBe('["a","say \\\\"hi\\\\"","c:\\\\\\\\d"]');
    // A NUL and a lone surrogate (JSON.stringify would write \\u0000 and \\udc00, which json refuses) become U+FFFD.
    expect(copyJsonStrings(['x\u0000y', 'z\udc00'])).toBe('["x\uFFFDy","z\uFFFD"]');
    // A control character keeps JSON's escape, which Postgres reads back as the character.
    expect(copyJsonStrings(['\u0001', '😀'])).toBe('["\\\\u0001","😀"]');
  });
});

describe('readImportFile', () => {
  it('streams rows with spreadsheet row numbers (blank lines count, the header is row 1)', async () => {
    const { dataRows, lines } = await read(fixture('blank-lines-between.csv'));
    expect(dataRows).toBe(2);
    expect(lines.map((l) => [l[0], l[1], l[2]])).toEqual([
      ['3', '0', 'fx-1'],
      ['6', '0', 'fx-2'],
    ]);
  });

  it.each(['bom.csv', 'crlf.csv', 'no-final-newline.csv', 'utf8-multibyte.csv', 'quoted-line-breaks.csv'])(
    'accepts %s',
    async (name) => {
      const { dataRows, lines } = await read(fixture(name), 1000, 3);
      expect(dataRows).toBe(name === 'no-final-newline.csv' ? 1 : 2);
      for (const l of lines) expect(l[4]).toBe('\\N'); // no row errors
    },
  );

  it('reads quoted commas, quotes and line breaks as data', async () => {
    const { lines } = await read(fixture('quoted-line-breaks.csv'));
    expect(lines[0][5]).toBe('Ana, "the boss"');
    expect(lines[0][6]).toBe('Ana\\nGarcía');
    expect(lines[1][5]).toBe('multi\\r\\nline');
  });

  it.each([
    ['empty.csv', 'empty_file'],
    ['bom-only.csv', 'empty_file'],
    ['whitespace-only.csv', 'empty_file'],
    ['header-only.csv', 'no_rows'],
    ['header-only-blank-lines.csv', 'no_rows'],
    ['unclosed-quote.csv', 'malformed_csv'],
    ['text-after-quote.csv', 'malformed_csv'],
    ['binary.bin.csv', 'invalid_encoding'],
    ['truncated-utf8.csv', 'invalid_encoding'],
    ['duplicate-header.csv', 'duplicate_column'],
    ['duplicate-header-case.csv', 'duplicate_column'],
    ['unknown-header.csv', 'unknown_column'],
    ['empty-header-cell.csv', 'unknown_column'],
    ['missing-vendor-data.csv', 'missing_column'],
  ])('rejects %s with %s', async (name, code) => {
    expect((await rejection(fixture(name))).code).toBe(code);
  });

  it('names the line of a malformed file', async () => {
    expect((await rejection(fixture('unclosed-quote.csv'))).message).toMatch(/line 3/);
  });

  it('reads a short row with its missing trailing cells empty (too-few-fields.csv)', async () => {
    const { dataRows, lines } = await read(fixture('too-few-fields.csv'));
    expect(dataRows).toBe(2);
    expect(lines.map((l) => [l[2], l[4], l[5]])).toEqual([
      ['fx-1', '\\N', 'Ana'],
      ['fx-2', '\\N', 'Bo'],
    ]);
  });

  it('a row longer than the header is the row error too_many_fields naming the line; the others go on', async () => {
    const { dataRows, lines } = await read(fixture('too-many-fields.csv'));
    expect(dataRows).toBe(2);
    expect(lines[0][4]).toBe('\\N');
    const errors = JSON.parse(lines[1][4].replace(/\\\\/g, '\\'));
    expect(errors).toEqual([{ column: '', code: 'too_many_fields', message: expect.stringMatching(/line 3 \(row 3\) has 10 fields, the header has 9/) }]);
    expect(lines[1][1]).toBe('\\N'); // no chunk: invalid
  });

  it.each([
    ['latin1.csv', { format: 'csv', encoding: 'windows-1252', delimiter: ',' }, 'José Núñez'],
    ['utf16le.csv', { format: 'csv', encoding: 'utf-16le', delimiter: ',' }, 'Ana'],
    ['semicolon-delimited.csv', { format: 'csv', encoding: 'utf-8', delimiter: ';' }, 'Ana'],
  ])('detects what %s is and reads it', async (name, source, displayName) => {
    const result = await read(fixture(name));
    expect(result.source).toEqual({ ...source, sheet: null });
    expect(result.lines[0][4]).toBe('\\N');
    expect(result.lines[0][5]).toBe(displayName);
  });

  it('stops at IMPORT_MAX_ROWS with too_many_rows', async () => {
    const file = `vendor_data\n${Array.from({ length: 11 }, (_, i) => `u${i}`).join('\n')}\n`;
    expect((await read(file, 11)).dataRows).toBe(11);
    expect((await rejection(file, 10)).code).toBe('too_many_rows');
  });

  it('reads a 10 MB cell (too long for display_name) in flat memory and moves on', async () => {
    const big = 'x'.repeat(10 * 1024 * 1024);
    const { lines } = await read(`vendor_data,display_name\nbig,${big}\nnext,fine\n`, 10, 64 * 1024);
    expect(JSON.parse(lines[0][4].replace(/\\\\/g, '\\'))[0]).toMatchObject({ column: 'display_name', code: 'too_long' });
    expect(lines[0][1]).toBe('\\N');
    expect(lines[0][5]).toBe('\\N');
    expect(lines[1][1]).toBe('0');
    expect(lines[1][2]).toBe('next');
  });
});

describe('detection', () => {
  it('the delimiter is the candidate found most outside quotes in the header line; ties and none are ","', () => {
    expect(detectDelimiter('a;b;c,d\nx,y,z,w,v')).toBe(';');
    expect(detectDelimiter('"a;b;c",d|e|f\n')).toBe('|');
    expect(detectDelimiter('a\tb\tc')).toBe('\t');
    expect(detectDelimiter('a;b,c')).toBe(',');
    expect(detectDelimiter('vendor_data\n;;;')).toBe(',');
  });

  it("Excel's sep= line names one of the four delimiters", () => {
    expect(sepLine('sep=;\r\nvendor_data')).toEqual({ delimiter: ';', rest: 7 });
    expect(sepLine('SEP=|\nv')).toEqual({ delimiter: '|', rest: 6 });
    expect(sepLine('sep=x\nv')).toBeUndefined();
    expect(sepLine('vendor_data')).toBeUndefined();
  });

  it('ndjson when the first non-blank character is { and the first line is a JSON object', () => {
    expect(detectTextFormat('\n  {"vendor_data":"a"}\n')).toBe('ndjson');
    expect(detectTextFormat('{"vendor_data":"a"')).toBe('csv');
    expect(detectTextFormat('{vendor_data},x\n')).toBe('csv');
    expect(detectTextFormat('vendor_data\n{"a":1}')).toBe('csv');
  });

  it('xlsx cells as a person sees them', () => {
    expect(plainNumber(34600111222)).toBe('34600111222');
    expect(plainNumber(1.2e10)).toBe('12000000000');
    expect(plainNumber(0.1 + 0.2)).toBe('0.3');
    expect(plainNumber(1e21)).toBe('1000000000000000000000');
    expect(isoDate(new Date(Date.UTC(1990, 4, 17)))).toBe('1990-05-17');
    expect(isoDate(new Date(Date.UTC(1990, 4, 17, 13, 5, 9)))).toBe('1990-05-17 13:05:09');
    // A number in its cell's format (numfmt); General, a text format or a format numfmt cannot read: plain digits.
    expect(numberText(1234, '000000')).toBe('001234');
    expect(numberText(0.5, '0%')).toBe('50%');
    expect(numberText(1234.5, '#,##0.00 "€"')).toBe('1,234.50 €');
    expect(numberText(34600111222, '0.00E+00')).toBe('3.46E+10');
    expect(numberText(34600111222, 'General')).toBe('34600111222');
    expect(numberText(34600111222, undefined)).toBe('34600111222');
    expect(numberText(34600111222, '@')).toBe('34600111222');
    expect(numberText(42, '[unclosed')).toBe('42');
    // A date format: Excel's serial day (33010 is 1990-05-17; .5 is noon), in the 1900 or the 1904 system.
    expect(numberText(33010, 'dd/mm/yyyy')).toBe('1990-05-17');
    expect(numberText(33010, 'mm-dd-yy')).toBe('1990-05-17');
    expect(numberText(33010.5, 'yyyy-mm-dd hh:mm')).toBe('1990-05-17 12:00:00');
    expect(numberText(33010 - 1462, 'd-mmm-yy', true)).toBe('1990-05-17');
    // Quoted text and [colours] are not date codes.
    expect(numberText(7, '[Red]0 "days"')).toBe('7 days');
  });
});

describe('readImportFile: what it detects, and the options that win', () => {
  const latin = 'vendor_data,display_name\nfx-1,Jos\u00e9 \u20ac\n';

  it.each([
    ['UTF-8', Buffer.from('vendor_data;display_name\nfx-1;Ana\n'), { format: 'csv', encoding: 'utf-8', delimiter: ';' }],
    ['UTF-8 with a BOM', Buffer.from('\ufeffvendor_data|display_name\nfx-1|Ana\n'), { format: 'csv', encoding: 'utf-8', delimiter: '|' }],
    ['windows-1252', iconv.encode('vendor_data,display_name\nfx-1,Ana \u00e9\n', 'windows-1252'), { format: 'csv', encoding: 'windows-1252', delimiter: ',' }],
    ['UTF-16LE', Buffer.concat([Buffer.from([0xff, 0xfe]), iconv.encode('vendor_data\tdisplay_name\nfx-1\tAna\n', 'utf-16le')]), { format: 'csv', encoding: 'utf-16le', delimiter: '\t' }],
    ['UTF-16BE', Buffer.concat([Buffer.from([0xfe, 0xff]), iconv.encode('vendor_data,display_name\nfx-1,Ana\n', 'utf-16be')]), { format: 'csv', encoding: 'utf-16be', delimiter: ',' }],
    ['NDJSON', Buffer.from('{"vendor_data":"fx-1","display_name":"Ana"}\n'), { format: 'ndjson', encoding: 'utf-8', delimiter: null }],
  ])('%s', async (_name, file, source) => {
    const result = await read(file, 10, 3);
    expect(result.source).toEqual({ ...source, sheet: null });
    expect(result.lines.map((l) => [l[0], l[2], l[4]])).toEqual([['2', 'fx-1', '\\N']]);
    expect(result.lines[0][5]).toMatch(/^Ana/);
  });

  it('a given encoding wins: ISO-8859-1 proper (0x80 is a C1 control, not the euro sign), windows-1252, utf-8', async () => {
    const bytes = iconv.encode(latin, 'windows-1252');
    expect((await read(bytes, 10, 7, { encoding: 'windows-1252' })).lines[0][5]).toBe('José €');
    const latin1 = await read(bytes, 10, 7, { encoding: 'iso-8859-1' });
    expect(latin1.source.encoding).toBe('iso-8859-1');
    expect(latin1.lines[0][5]).toBe('José \u0080'); // 0x80 is the C1 control U+0080 in ISO-8859-1
    const asUtf8 = await rejection(bytes, 10, { encoding: 'utf-8' });
    expect(asUtf8.code).toBe('invalid_encoding');
    expect(asUtf8.message).toMatch(/not valid utf-8 \(the encoding given\)/);
  });

  it('a given delimiter and format win over detection', async () => {
    // The header has no candidate: "," is assumed, and the row is one cell; given ";", the row has two.
    expect((await read('vendor_data\nfx-1;x\n')).lines[0][2]).toBe('fx-1;x');
    const given = await read('vendor_data\nfx-1;x\n', 10, 7, { delimiter: ';' });
    expect(given.source.delimiter).toBe(';');
    expect(given.lines[0][4]).toMatch(/too_many_fields/);
    const csv = await rejection('{"vendor_data":"a"}\n', 10, { format: 'csv' });
    expect(csv.code).toBe('unknown_column');
    expect((await rejection('vendor_data\na\n', 10, { format: 'xlsx' })).code).toBe('invalid_xlsx');
  });

  it('UTF-8 assumed from the first 64 KiB, broken later: NotUtf8AfterAllError, then read again as windows-1252', async () => {
    const head = `vendor_data,display_name\n${'fx-1,Ana\n'.repeat(Math.ceil(SNIFF_BYTES / 9))}`;
    const file = Buffer.concat([Buffer.from(head), Buffer.from('fx-2,Jos'), Buffer.from([0xe9]), Buffer.from('\n')]);
    const error = await rejection(file, 1_000_000);
    expect(error).toBeInstanceOf(NotUtf8AfterAllError);
    expect(error.code).toBe('invalid_encoding');
    expect(error.message).toMatch(/not valid utf-8 \(assumed because its first 64 KiB are valid UTF-8\).*`encoding` option/);
    // Read again as staging does, and given: the same bytes read as windows-1252.
    const again = await read(file, 1_000_000, 4096, { notUtf8: true });
    expect(again.source.encoding).toBe('windows-1252');
    expect(again.dataRows).toBe(Math.ceil(SNIFF_BYTES / 9) + 1);
    expect(again.lines.at(-1)?.[5]).toBe('José');
    expect((await read(file, 1_000_000, 4096, { encoding: 'windows-1252' })).dataRows).toBe(Math.ceil(SNIFF_BYTES / 9) + 1);
    // A given UTF-8, and a prefix holding NUL, are not read again: invalid_encoding as it is.
    expect(await rejection(file, 1_000_000, { encoding: 'utf-8' })).not.toBeInstanceOf(NotUtf8AfterAllError);
    const withNul = Buffer.concat([Buffer.from('vendor_data,display_name\nfx-0,A\u0000\n'), file.subarray(25)]);
    expect(await rejection(withNul, 1_000_000)).not.toBeInstanceOf(NotUtf8AfterAllError);
  });

  it('a file that ends inside a UTF-8 character: windows-1252 if it held no UTF-8 before, else cut off (invalid_encoding)', async () => {
    // `José` in windows-1252 at the very end (no line break): 0xE9 alone looks like the start of a UTF-8 character.
    const ascii = Buffer.concat([Buffer.from('vendor_data,display_name\nx,Jos'), Buffer.from([0xe9])]);
    expect(await rejection(ascii)).toBeInstanceOf(NotUtf8AfterAllError);
    expect((await read(ascii, 1000, 7, { notUtf8: true })).lines[0][5]).toBe('José');
    // UTF-8 `José` then a lone lead byte: a UTF-8 file cut off.
    const cut = Buffer.concat([Buffer.from('vendor_data,display_name\nx,José'), Buffer.from([0xc3])]);
    const error = await rejection(cut);
    expect([error.code, error instanceof NotUtf8AfterAllError]).toEqual(['invalid_encoding', false]);
  });

  it('a row after a sep= line is row 2; the sep line names the delimiter', async () => {
    const result = await read('sep=|\r\nvendor_data|display_name\r\nfx-1|A,B\r\n');
    expect(result.source.delimiter).toBe('|');
    expect(result.lines.map((l) => [l[0], l[2], l[5]])).toEqual([['2', 'fx-1', 'A,B']]);
  });

  it('NDJSON: fixed template header, lines as records, bad lines as row errors', async () => {
    const result = await read('{"vendor_data":"a","tags":["x","y"],"metadata":{"k":1}}\r\n\n"text"\n{"vendor_data":"b","metadata_json":"{\\"q\\":2}"}', 10, 5);
    expect(result.columns).toEqual(['vendor_data', 'display_name', 'full_name', 'email', 'phone', 'country', 'status', 'tags', 'metadata_json']);
    expect(result.dataRows).toBe(3);
    expect(result.lines.map((l) => [l[0], l[2], l[11]])).toEqual([
      ['2', 'a', '{"x","y"}'],
      ['4', '\\N', '\\N'],
      ['5', 'b', '\\N'],
    ]);
    expect(result.lines[0][12]).toBe('{"k":1}');
    expect(result.lines[1][4]).toMatch(/invalid_json_line.*line 3 is string, not a JSON object/);
    expect(result.lines[2][12]).toBe('{"q":2}');
  });

  it('NDJSON: values are read as given (no formula escape); a tag of a list holding a comma is invalid_tags, with the other problems', async () => {
    const lines = [
      JSON.stringify({ vendor_data: "'=a", display_name: "''+b", full_name: "'-5", tags: ["'=t", 'u'] }),
      JSON.stringify({ vendor_data: 'c', tags: ['x', 'y,z'] }),
      JSON.stringify({ vendor_data: 'd', email: 'nope', tags: ['a,b'] }),
      JSON.stringify({ vendor_data: 'e', tags: 'p,q' }),
    ];
    const result = await read(lines.join('\n'), 10, 9);
    expect(result.lines.map((l) => [l[2], l[4], l[5], l[6], l[11]])).toEqual([
      ["'=a", '\\N', "''+b", "'-5", '{"\'=t","u"}'],
      ['c', expect.stringMatching(/"tags".*invalid_tags.*a tag may not hold a comma \(\\\\"y,z\\\\"\)/), '\\N', '\\N', '\\N'],
      ['d', expect.stringMatching(/invalid_email.*invalid_tags|invalid_tags.*invalid_email/), '\\N', '\\N', '\\N'],
      // A string is a comma-separated cell, as in a CSV.
      ['e', '\\N', '\\N', '\\N', '{"p","q"}'],
    ]);
  });

  it("NDJSON: keys resolved like headers (synonyms, first and last name, the upload's mapping); the rest listed as ignored", async () => {
    const lines = [
      JSON.stringify({ external_id: 'a', first_name: 'Ana', last_name: 'Pérez', email_address: 'ana@example.com', plan: 'pro' }),
      JSON.stringify({ vendor_data: 'b', Nick: 'Bo', created_at: '2024-01-01' }),
      JSON.stringify({ vendor_data: 'c', email: 'c@example.com', email_address: 'c2@example.com' }),
      JSON.stringify({ vendor_data: 'd', full_name: 'Dee Doe', given_name: 'Dee' }),
    ];
    const result = await read(lines.join('\n'), 10, 9, { header: { mapping: { Nick: 'display_name' } } } as ReadOptions);
    expect(result.mapping.map((m) => [m.header, m.column, m.source])).toEqual([
      ['external_id', 'vendor_data', 'synonym'],
      ['first_name', 'first_name', 'synonym'],
      ['last_name', 'last_name', 'synonym'],
      ['email_address', 'email', 'synonym'],
      ['plan', null, 'ignored'],
      ['vendor_data', 'vendor_data', 'exact'],
      ['Nick', 'display_name', 'mapping'],
      ['created_at', null, 'ignored'],
      ['email', 'email', 'exact'],
      ['full_name', 'full_name', 'exact'],
      ['given_name', 'first_name', 'synonym'],
    ]);
    expect(result.lines.map((l) => [l[2], l[5], l[6], l[7]])).toEqual([
      ['a', '\\N', 'Ana Pérez', 'ana@example.com'],
      ['b', 'Bo', '\\N', '\\N'],
      ['\\N', '\\N', '\\N', '\\N'],
      ['\\N', '\\N', '\\N', '\\N'],
    ]);
    expect(result.lines[2][4]).toMatch(/invalid_json_line.*line 3 gives email twice \(email, email_address\)/);
    expect(result.lines[3][4]).toMatch(/invalid_json_line.*line 4 gives full_name twice/);
  });

  it('NDJSON: keys bounded as a header is (too many, too long together, a control or broken character)', async () => {
    const line = JSON.stringify(Object.fromEntries([['vendor_data', 'a'], ...Array.from({ length: 200 }, (_, i) => [`k${i}`, i])]));
    expect((await rejection(line, 10, { format: 'ndjson' })).code).toBe('too_many_columns');
    const long = JSON.stringify({ vendor_data: 'a', ['k'.repeat(40_000)]: 1 });
    expect((await rejection(long, 10, { format: 'ndjson' })).code).toBe('header_too_large');
    expect((await rejection('{"vendor_data":"a","x\\u0000y":1}', 10, { format: 'ndjson' })).code).toBe('invalid_header');
    expect((await rejection('{"vendor_data":"a","x\\ud800":1}', 10, { format: 'ndjson' })).code).toBe('invalid_header');
  });

  async function workbook(sheets: Record<string, unknown[][]>): Promise<Buffer> {
    const wb = new ExcelJS.Workbook();
    for (const [name, rows] of Object.entries(sheets)) {
      const ws = wb.addWorksheet(name);
      for (const row of rows) ws.addRow(row);
    }
    return Buffer.from(await wb.xlsx.writeBuffer());
  }

  it('xlsx: the first sheet, or the sheet given by name; an unknown name is unknown_sheet naming the sheets', async () => {
    const file = await workbook({ First: [['vendor_data'], ['one']], Second: [['vendor_data', 'display_name'], ['two', 2]] });
    const first = await read(file, 10, 1000);
    expect(first.source).toEqual({ format: 'xlsx', encoding: null, delimiter: null, sheet: 'First' });
    expect(first.lines.map((l) => l[2])).toEqual(['one']);
    const second = await read(file, 10, 1000, { sheet: 'Second' });
    expect(second.source.sheet).toBe('Second');
    expect(second.lines.map((l) => [l[2], l[5]])).toEqual([['two', '2']]);
    const unknown = await rejection(file, 10, { sheet: 'Third' });
    expect(unknown.code).toBe('unknown_sheet');
    expect(unknown.message).toBe('the workbook has no sheet named "Third"; its sheets: First, Second');
  });

  it("xlsx: each number in its cell's number format, as Excel shows it", async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Users');
    ws.addRow(['vendor_data', 'display_name', 'phone']);
    const row = ws.addRow([1234, 0.25, 34600111222]);
    row.getCell(3).numFmt = '"+"0';
    row.getCell(1).numFmt = '000000';
    row.getCell(2).numFmt = '0%';
    const result = await read(Buffer.from(await wb.xlsx.writeBuffer()), 10, 1000);
    expect(result.lines.map((l) => [l[2], l[4], l[5], l[8]])).toEqual([['001234', '\\N', '25%', '+34600111222']]);
  });

  it('xlsx: too many rows, and a row longer than the header', async () => {
    const file = await workbook({ S: [['vendor_data'], ['a'], ['b', 'extra'], ['c']] });
    expect((await rejection(file, 2)).code).toBe('too_many_rows');
    const result = await read(file, 10, 1000);
    expect(result.lines[1][4]).toMatch(/too_many_fields/);
  });

  it('xlsx as other writers make it: prefixed elements, sheets out of file order, rich and escaped text, 1904 dates', async () => {
    // Written by hand, as the OpenXML SDK and Excel write parts that exceljs's writer does not: an `x:` prefix on
    // every element, a chart sheet first, the first worksheet in a file named sheet2 (an absolute Target), shared
    // strings with a phonetic guide and an OOXML escape, rich inline strings, booleans, errors, ISO dates, a row
    // without its number, a custom number format and the 1904 date system.
    const r = (id: string, type: string, target: string) =>
      `<Relationship Id="${id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/${type}" Target="${target}"/>`;
    const zip = new JSZip();
    zip.file('_rels/.rels', `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${r('rId1', 'officeDocument', 'xl/workbook.xml')}</Relationships>`);
    zip.file(
      'xl/workbook.xml',
      '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">' +
        '<workbookPr date1904="1"/><sheets><sheet name="Chart" sheetId="3" r:id="rId9"/><sheet name="Users" sheetId="1" r:id="rId1"/><sheet name="Notes" sheetId="2" r:id="rId2"/></sheets></workbook>',
    );
    zip.file(
      'xl/_rels/workbook.xml.rels',
      `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${r('rId9', 'chartsheet', 'chartsheets/sheet1.xml')}${r('rId1', 'worksheet', '/xl/worksheets/sheet2.xml')}${r('rId2', 'worksheet', 'worksheets/sheet1.xml')}${r('rId3', 'styles', 'styles.xml')}${r('rId4', 'sharedStrings', 'sharedStrings.xml')}</Relationships>`,
    );
    zip.file(
      'xl/styles.xml',
      '<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="0000"/></numFmts>' +
        '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/></cellXfs></styleSheet>',
    );
    const x = (body: string) => `<?xml version="1.0"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>${body}</x:sheetData></x:worksheet>`;
    const inline = (ref: string, runs: string) => `<x:c r="${ref}" t="inlineStr"><x:is>${runs}</x:is></x:c>`;
    zip.file(
      'xl/worksheets/sheet2.xml',
      x(
        `<x:row r="1"><x:c r="A1" t="s"><x:v>0</x:v></x:c><x:c r="B1" t="s"><x:v>1</x:v></x:c><x:c r="C1" t="s"><x:v>2</x:v></x:c>${inline('D1', '<x:t>date_of_birth</x:t>')}${inline('E1', '<x:t>tags</x:t>')}</x:row>` +
          `<x:row r="3"><x:c r="A3" t="str"><x:f>CONCAT("u-","1")</x:f><x:v>u-1</x:v></x:c><x:c r="B3" t="s"><x:v>3</x:v></x:c><x:c r="C3" t="s"><x:v>4</x:v></x:c>` +
          `<x:c r="D3" s="1"><x:v>${33010 - 1462}</x:v></x:c>${inline('E3', '<x:r><x:t>vip,</x:t></x:r><x:r><x:rPr><x:b/></x:rPr><x:t>beta</x:t></x:r>')}</x:row>` +
          '<x:row><x:c t="b"><x:v>1</x:v></x:c><x:c t="e"><x:v>#N/A</x:v></x:c><x:c s="2"><x:v>42</x:v></x:c><x:c t="d"><x:v>2001-02-03T04:05:06</x:v></x:c></x:row>',
      ),
    );
    zip.file('xl/worksheets/sheet1.xml', '<worksheet><sheetData><row r="1"><c t="inlineStr"><is><t>vendor_data</t></is></c></row><row r="2"><c t="inlineStr"><is><t>n-1</t></is></c></row></sheetData></worksheet>');
    zip.file(
      'xl/sharedStrings.xml',
      '<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>vendor_data</t></si><si><t>display_name</t></si><si><t>full_name</t></si>' +
        '<si><r><t xml:space="preserve">Ana </t></r><r><rPr><b/></rPr><t>Mar&#237;a</t></r><rPh sb="0" eb="3"><t>ana</t></rPh></si><si><t>A_x0026_B &amp; C</t></si></sst>',
    );
    const file = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    const rawOf = (line: string[]) => JSON.parse(line[14].replace(/\\\\/g, '\\')) as string[];

    const users = await read(file, 10, 1000);
    expect(users.source.sheet).toBe('Users');
    expect(users.lines.map((l) => l[0])).toEqual(['3', '4']);
    expect(rawOf(users.lines[0])).toEqual(['u-1', 'Ana María', 'A&B & C', '1990-05-17', 'vip,beta']);
    expect(rawOf(users.lines[1]).slice(0, 4)).toEqual(['TRUE', '#N/A', '0042', '2001-02-03 04:05:06']);
    expect(users.lines[0][11]).toBe('{"vip","beta"}');
    const notes = await read(file, 10, 1000, { sheet: 'Notes' });
    expect(notes.lines.map((l) => l[2])).toEqual(['n-1']);
    expect((await rejection(file, 10, { sheet: 'Chart' })).message).toBe('the workbook has no sheet named "Chart"; its sheets: Users, Notes');
    // XML that is not well formed is the file's fault, with the parser's reason.
    zip.file('xl/worksheets/sheet1.xml', '<worksheet><sheetData><row></sheetData></worksheet>');
    const broken = await rejection(await zip.generateAsync({ type: 'nodebuffer' }), 10, { sheet: 'Notes' });
    expect(broken.code).toBe('invalid_xlsx');
    expect(broken.message).toMatch(/^the file is not a readable xlsx workbook: /);
  });

  it('xlsx: a huge text, a cell far to the right or past the last column is refused invalid_xlsx', async () => {
    // A workbook of one sheet, its rows given as XML.
    const oneSheet = (rows: string) => {
      const zip = new JSZip();
      zip.file('xl/workbook.xml', '<workbook xmlns:r="r"><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>');
      zip.file('xl/_rels/workbook.xml.rels', '<Relationships><Relationship Id="rId1" Type="x/worksheet" Target="worksheets/sheet1.xml"/></Relationships>');
      zip.file('xl/worksheets/sheet1.xml', `<worksheet><sheetData><row r="1"><c t="inlineStr"><is><t>vendor_data</t></is></c></row>${rows}</sheetData></worksheet>`);
      return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    };
    const ok = await read(await oneSheet('<row r="2"><c r="A2" t="inlineStr"><is><t>a-1</t></is></c></row>'), 10, 1000);
    expect(ok.lines.map((l) => l[2])).toEqual(['a-1']);
    // One text of 1,000,001 characters (deflated to a few kilobytes): refused before saxes holds it whole.
    const huge = await rejection(await oneSheet(`<row r="2"><c t="inlineStr"><is><t>${'x'.repeat(1_000_001)}</t></is></c></row>`), 10);
    expect(huge.code).toBe('invalid_xlsx');
    expect(huge.message).toMatch(/unpacks to more than 1000000 characters in one text or tag/);
    // XFD is the last column; a cell there pads its row with 16,383 empty cells, which count as cell text.
    const far = await oneSheet('<row r="2"><c r="XFD2"><v>1</v></c></row>');
    expect((await read(far, 10, 1000)).lines[0][4]).toMatch(/too_many_fields/);
    const small = await rejection(far, 10, { maxBytes: 1000 } as ReadOptions);
    expect(small.message).toMatch(/unpacks to more than 10000 characters of cell text/);
    const past = await rejection(await oneSheet('<row r="2"><c r="XFE2"><v>1</v></c></row>'), 10);
    expect(past.message).toMatch(/not a readable xlsx workbook: a cell past Excel's last column \(XFE2\)/);
  });

  it('xlsx: cells that are only formatting, odd parts, and nesting, comments or items past the bounds', async () => {
    /** A workbook of one sheet: its sheetData's XML, and other parts (by path) beside or instead of the usual ones. */
    const book = (sheetData: string, parts: Record<string, string> = {}, rels = true) => {
      const zip = new JSZip();
      zip.file('xl/workbook.xml', '<workbook xmlns:r="r"><sheets><sheet name="S" r:id="rId1"/></sheets></workbook>');
      zip.file(
        'xl/_rels/workbook.xml.rels',
        `<Relationships><Relationship Id="rId1" Type="x/worksheet" Target="worksheets/sheet1.xml"/>${rels ? '<Relationship Id="rId2" Type="x/sharedStrings" Target="sharedStrings.xml"/><Relationship Id="rId3" Type="x/styles" Target="styles.xml"/>' : ''}</Relationships>`,
      );
      zip.file('xl/sharedStrings.xml', '<sst><si><t>vendor_data</t></si><si><t>display_name</t></si><si><t>s-1</t></si></sst>');
      zip.file('xl/worksheets/sheet1.xml', `<worksheet><sheetData>${sheetData}</sheetData></worksheet>`);
      for (const [name, text] of Object.entries(parts)) zip.file(name, text);
      return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
    };
    const header = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" s="1"/><c r="F1" s="1"/></row>';
    // Cells with a style and no value (Excel writes them for a formatted range) are not cells: no unnamed column, no
    // too_many_fields. A t="s" cell without a value is empty, not the first shared string.
    const formatted = await read(await book(`${header}<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"/><c r="H2" s="1"/></row>`), 10, 1000);
    expect(formatted.columns).toEqual(['vendor_data', 'display_name']);
    expect(formatted.lines.map((l) => [l[2], l[4], l[5]])).toEqual([['s-1', '\\N', '\\N']]);
    // The shared strings and styles found at Excel's paths when the relationships do not name them; a number
    // format under dxfs (conditional formatting) does not replace the cell style's.
    const styles = '<styleSheet><numFmts><numFmt numFmtId="164" formatCode="000"/></numFmts><cellXfs><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs><dxfs><dxf><numFmt numFmtId="164" formatCode="0.00"/></dxf></dxfs></styleSheet>';
    const unnamed = await read(await book(`${header}<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" s="1"><v>7</v></c></row>`, { 'xl/styles.xml': styles }, false), 10, 1000);
    expect(unnamed.lines.map((l) => [l[2], l[5]])).toEqual([['s-1', '007']]);
    // An inline string in a cell that is not inlineStr leaves nothing for the next cell.
    const inline = await read(await book(`${header}<row r="2"><c r="A2" t="s"><v>2</v><is><t>stray</t></is></c><c r="B2" t="inlineStr"><is><t>B</t></is></c></row>`), 10, 1000);
    expect(inline.lines.map((l) => l[5])).toEqual(['B']);
    // Rows out of order, or past Excel's last row: invalid_xlsx (not a database error).
    const order = await rejection(await book(`${header}<row r="3"><c r="A3" t="s"><v>2</v></c></row><row r="2"/>`), 10);
    expect(order.message).toMatch(/not a readable xlsx workbook: a row numbered "2" after row 3/);
    expect((await rejection(await book(`${header}<row r="1048577"/>`), 10)).code).toBe('invalid_xlsx');
    // Nesting past 64 elements; a comment holding '<'s past 1,000,000 characters; 300,001 empty shared strings
    // against maxBytes 100,000 (each counts one character).
    const nested = await rejection(await book(`${header}<row r="2">${'<a>'.repeat(70)}${'</a>'.repeat(70)}</row>`), 10);
    expect(nested.message).toMatch(/nested deeper than 64 elements/);
    const comment = await rejection(await book(`${header}<!--${'x<'.repeat(600_000)}-->`), 10);
    expect(comment.message).toMatch(/more than 1000000 characters in one text or tag/);
    const manyEmpty = await rejection(await book(header, { 'xl/sharedStrings.xml': `<sst>${'<si/>'.repeat(100_001)}</sst>` }), 10, { maxBytes: 100_000 } as ReadOptions);
    expect(manyEmpty.message).toMatch(/more than 100000 characters of shared strings/);
  });

  it('xlsx: the temporary copy of the upload is gone when the read ends, stops early or fails', async () => {
    // The reader copies the upload to import-xlsx-* in os.tmpdir() to open its zip directory. exceljs's streaming
    // writer puts the sheets before the shared strings, and this workbook has two sheets.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'xlsx-')), 'two-sheets.xlsx');
    const writer = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: file, useSharedStrings: true });
    for (const name of ['First', 'Second']) {
      const ws = writer.addWorksheet(name);
      ws.addRow(['vendor_data']).commit();
      for (let i = 0; i < 50; i++) ws.addRow([`${name}-${i}`]).commit();
      ws.commit();
    }
    await writer.commit();
    const bytes = fs.readFileSync(file);
    // A temporary directory of this test's own: another test process reading an xlsx at the same time makes and
    // removes its copies in the shared one. (Jest gives a test file its own process.env, which os.tmpdir() does not
    // read, so the directory is given through os.tmpdir itself.)
    const privateTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'xlsx-tmp-'));
    const tmpdir = jest.spyOn(os, 'tmpdir').mockReturnValue(privateTmp);
    const copies = () => fs.readdirSync(privateTmp).filter((name) => name.startsWith('import-xlsx-'));
    let sawCopy = false;
    try {
      expect(os.tmpdir()).toBe(privateTmp);
      const first = await read(bytes, 1000, 1000, { progressEvery: 10, onProgress: () => (sawCopy ||= copies().length === 1) } as ReadOptions);
      expect(first.lines.map((l) => l[2])).toEqual(Array.from({ length: 50 }, (_, i) => `First-${i}`));
      const second = await read(bytes, 1000, 1000, { sheet: 'Second' });
      expect(second.lines.map((l) => l[2])).toEqual(Array.from({ length: 50 }, (_, i) => `Second-${i}`));
      expect(copies()).toEqual([]);
      expect((await rejection(bytes, 10)).code).toBe('too_many_rows');
      expect(copies()).toEqual([]);
      expect((await rejection(bytes.subarray(0, bytes.length - 100), 10)).code).toBe('invalid_xlsx');
      expect(copies()).toEqual([]);
    } finally {
      tmpdir.mockRestore();
      fs.rmSync(privateTmp, { recursive: true, force: true });
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
    // The copy was made where the test looked (so the checks above can fail).
    expect(sawCopy).toBe(true);
  });

  it("xlsx: reads that stop early leave no file descriptor open, and each of 300 reads of one workbook succeeds", async () => {
    // With exceljs, every read stopped early left a descriptor open for the worker's lifetime (36 open before 300
    // such reads, 337 after), and about 1 read in 300 of this workbook failed (exceljs#3064).
    const file = await workbook({ S: [['vendor_data'], ['a'], ['b'], ['c']] });
    const openDescriptors = () => fs.readdirSync('/proc/self/fd').length;
    await rejection(file, 2); // the first read loads what it needs once
    const before = openDescriptors();
    const codes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const code = (await rejection(file, 2)).code;
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    expect(Object.fromEntries(codes)).toEqual({ too_many_rows: 300 });
    expect(openDescriptors() - before).toBeLessThanOrEqual(2);
  });

  it('the binary file is not text: invalid_encoding (NUL bytes and not UTF-8)', async () => {
    expect((await rejection(fixture('binary.bin.csv'))).message).toMatch(/holds NUL bytes/);
  });
});

describe('header sources: exact and synonym', () => {
  const sources = (cells: string[]) => readHeader(cells).mapping.map((m) => [m.header, m.column, m.source]);

  it("the template's own names are exact, in any letter case and with a space or - for their _", () => {
    expect(sources([...IMPORT_COLUMNS])).toEqual(IMPORT_COLUMNS.map((c) => [c, c, 'exact']));
    expect(sources(['Vendor Data', 'EMAIL', 'display-name', 'Metadata_JSON'])).toEqual([
      ['Vendor Data', 'vendor_data', 'exact'],
      ['EMAIL', 'email', 'exact'],
      ['display-name', 'display_name', 'exact'],
      ['Metadata_JSON', 'metadata_json', 'exact'],
    ]);
  });

  it('a synonym stays a synonym, also one with the letters of a template name (e-mail)', () => {
    expect(sources(['vendor_data', 'E-mail'])).toEqual([
      ['vendor_data', 'vendor_data', 'exact'],
      ['E-mail', 'email', 'synonym'],
    ]);
    expect(sources(['vendor_data', 'email_address'])[1]).toEqual(['email_address', 'email', 'synonym']);
    expect(sources(['external_id', 'e_mail'])).toEqual([
      ['external_id', 'vendor_data', 'synonym'],
      ['e_mail', 'email', 'synonym'],
    ]);
  });
});

describe('NDJSON line endings', () => {
  const file = '{"vendor_data":"a"}\r{"vendor_data":"b"}\r\r{"vendor_data":"c"}\r\n{"vendor_data":"d"}\n\r\n{"vendor_data":"e"}\r';

  it('LF, CRLF and CR alone each end a line (blank lines counted), however the file is split', async () => {
    const whole = await read(file, 10, file.length);
    expect(whole.source.format).toBe('ndjson');
    expect(whole.dataRows).toBe(5);
    expect(whole.lines.map((l) => [l[0], l[2], l[4]])).toEqual([
      ['2', 'a', '\\N'],
      ['3', 'b', '\\N'],
      ['5', 'c', '\\N'],
      ['6', 'd', '\\N'],
      ['8', 'e', '\\N'],
    ]);
    for (let size = 1; size < file.length; size++) expect((await read(file, 10, size)).lines).toEqual(whole.lines);
  });

  it('a file with CR alone is read line by line (a broken line is one row error, not the whole file)', async () => {
    const result = await read('{"vendor_data":"a"}\r{"vendor_data": broken\r{"vendor_data":"c"}', 10, 4);
    expect(result.lines.map((l) => [l[0], l[2], l[4] === '\\N' ? 'ok' : JSON.parse(l[4].replace(/\\\\/g, '\\'))[0].code])).toEqual([
      ['2', 'a', 'ok'],
      ['3', '\\N', 'invalid_json_line'],
      ['4', 'c', 'ok'],
    ]);
  });
});

describe('format: the content, then the file name', () => {
  const named = (fileName: string) => ({ fileName }) as ReadOptions;
  const brokenFirst = '{"vendor_data": "a", broken\n{"vendor_data":"b"}\n';

  it('the extension names a format (letter case ignored); other names none', () => {
    expect(['u.ndjson', 'U.JSONL', 'u.xlsx', 'u.csv', 'u.tsv', 'u.txt', 'u.json', 'u', 'csv', 'a.csv/b'].map(formatOfName)).toEqual([
      'ndjson',
      'ndjson',
      'xlsx',
      'csv',
      'csv',
      'csv',
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('.ndjson / .jsonl: NDJSON although the first line is broken JSON (that line a row error)', async () => {
    for (const name of ['users.ndjson', 'users.JSONL']) {
      const result = await read(brokenFirst, 10, 5, named(name));
      expect(result.source).toEqual({ format: 'ndjson', encoding: 'utf-8', delimiter: null, sheet: null });
      expect(result.lines.map((l) => [l[0], l[2]])).toEqual([
        ['2', '\\N'],
        ['3', 'b'],
      ]);
      expect(result.lines[0][4]).toMatch(/invalid_json_line.*line 1 is not JSON/);
    }
    // Named .csv (or not named), the same bytes are a CSV whose header is no column.
    expect((await rejection(brokenFirst, 10, named('users.csv'))).code).toBe('unknown_column');
    expect((await rejection(brokenFirst, 10)).code).toBe('unknown_column');
  });

  it('the content wins over the name: a zip is xlsx, a first line that is a JSON object is NDJSON', async () => {
    const wb = new ExcelJS.Workbook();
    wb.addWorksheet('S').addRow(['vendor_data']);
    wb.getWorksheet('S')!.addRow(['x-1']);
    const zip = Buffer.from(await wb.xlsx.writeBuffer());
    const asCsv = await read(zip, 10, 1000, named('users.csv'));
    expect(asCsv.source.format).toBe('xlsx');
    expect(asCsv.lines.map((l) => l[2])).toEqual(['x-1']);
    const json = await read('{"vendor_data":"j-1"}\n', 10, 7, named('users.xlsx'));
    expect(json.source.format).toBe('ndjson');
    expect(json.lines.map((l) => l[2])).toEqual(['j-1']);
    const csv = await read('vendor_data\nc-1\n', 10, 7, named('users.ndjson.csv'));
    expect(csv.source.format).toBe('csv');
  });

  it('.xlsx text that is not JSON is read as a workbook: invalid_xlsx saying how to read it as text; a given format wins', async () => {
    const error = await rejection('vendor_data\nx-1\n', 10, named('users.xlsx'));
    expect(error.code).toBe('invalid_xlsx');
    expect(error.message).toBe('the file is not an xlsx workbook (not a zip archive); its name says xlsx: if it is text, give format=csv or format=ndjson');
    const given = await read('vendor_data\nx-1\n', 10, 7, { format: 'csv', fileName: 'users.xlsx' } as ReadOptions);
    expect(given.lines.map((l) => l[2])).toEqual(['x-1']);
    expect((await rejection(brokenFirst, 10, { format: 'csv', fileName: 'users.ndjson' } as ReadOptions)).code).toBe('unknown_column');
  });
});
