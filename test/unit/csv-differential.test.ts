import { parse, type Options } from 'csv-parse/sync';
import { ImportFileError } from '../../src/imports/columns';
import { CsvRecordReader } from '../../src/imports/csv-records';

/**
 * The import's hand-written CSV reader (src/imports/csv-records.ts) against csv-parse, on texts generated from a seeded
 * PRNG: quoted fields holding quotes, delimiters and CR / LF / CRLF, empty fields and lines, ragged records, unicode
 * (astral characters included), mixed line breaks in one file, no BOM. The reader is fed each text in random chunks.
 *
 * On strict RFC 4180 input the two must give the same records. Where the reader is lenient by design the expected
 * relation is written out:
 * - a quote inside an unquoted field (`5" screen`) is text: the reader agrees with csv-parse's `relax_quotes`, which
 *   strict csv-parse refuses;
 * - blanks after a closing quote (`"a" ,b`) are ignored: the reader gives what strict csv-parse gives without them
 *   (csv-parse refuses them, or with `relax_quotes` keeps the whole raw field);
 * - other text after a closing quote, and an unclosed quote, are `malformed_csv`: csv-parse refuses both too.
 * The reader also gives each record's physical line (a CRLF inside quotes counts once, where csv-parse's `info.lines`
 * counts two): checked against a count of the line breaks before the record.
 */

const CASES = 1500;

/** mulberry32: small, fast, and the same sequence for a seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const int = (rnd: Random, n: number) => Math.floor(rnd() * n);
const pick = <T>(rnd: Random, items: readonly T[]): T => items[int(rnd, items.length)];

const DELIMITERS = [',', ';', '\t'] as const;
const BREAKS = ['\n', '\r\n', '\r'] as const;
/** Text characters: ASCII, blanks, accents, CJK, an astral emoji (a surrogate pair a chunk may split), U+2028, NUL. */
const TEXT = ['a', 'b', 'Z', '0', '9', ' ', ' ', '.', '=', '-', "'", 'é', 'ß', '日', '😀', '\u2028', '\u00a0', '\u0000'];
/** What a quoted field may hold besides text. */
const SPECIAL = ['"', ',', ';', '\t', '\r', '\n', '\r\n'];

function text(rnd: Random, delimiter: string, max: number): string {
  let s = '';
  for (let n = int(rnd, max + 1); n > 0; n--) {
    const c = pick(rnd, TEXT);
    if (c !== delimiter) s += c;
  }
  return s;
}

function quotedContent(rnd: Random, delimiter: string): string {
  let s = '';
  for (let n = int(rnd, 8); n > 0; n--) s += rnd() < 0.4 ? pick(rnd, SPECIAL) : text(rnd, delimiter, 3);
  return s;
}

type Leniency = 'strict' | 'quote-in-unquoted' | 'blank-after-quote' | 'text-after-quote' | 'unclosed-quote';

interface Generated {
  /** The text the reader and csv-parse are given. */
  input: string;
  /** The strict equivalent: for 'blank-after-quote', the input without the blanks the reader ignores. */
  strict: string;
  delimiter: string;
  /** Where each generated record starts in `input` (it may differ from what is read: a CR then an empty line is a CRLF). */
  starts: number[];
}

/** A CSV text with at least one instance of `leniency` (none for 'strict'). */
function generate(rnd: Random, leniency: Leniency): Generated {
  const delimiter = rnd() < 0.6 ? ',' : pick(rnd, DELIMITERS);
  const blank = delimiter === '\t' ? ' ' : pick(rnd, [' ', '\t', '  ']);
  const records = 1 + int(rnd, 6);
  const width = 1 + int(rnd, 5);
  const special = { record: int(rnd, records), field: -1 };
  special.field = int(rnd, width);
  let input = '';
  let strict = '';
  const starts: number[] = [];
  for (let r = 0; r < records; r++) {
    starts.push(input.length);
    // Ragged records now and then (relax_column_count), and empty lines.
    const fields = rnd() < 0.15 ? 1 + int(rnd, width + 2) : width;
    for (let f = 0; f < Math.max(fields, r === special.record ? special.field + 1 : 0); f++) {
      if (f > 0) {
        input += delimiter;
        strict += delimiter;
      }
      let field: string;
      let strictField: string;
      const here = r === special.record && f === special.field;
      if (here && leniency === 'quote-in-unquoted') {
        // Unquoted, not starting with a quote (that would open a quoted field), holding one or more.
        field = `${pick(rnd, ['5', 'a', ' ', 'x y'])}"${text(rnd, delimiter, 3)}${rnd() < 0.3 ? '""' : ''}`;
        strictField = field;
      } else if (here && leniency === 'blank-after-quote') {
        strictField = `"${quotedContent(rnd, delimiter).replace(/"/g, '""')}"`;
        field = strictField + blank;
      } else if (here && leniency === 'text-after-quote') {
        // (A quote straight after the closing one would make a `""`: after blanks only.)
        const gap = rnd() < 0.5 ? blank : '';
        field = `"${quotedContent(rnd, delimiter).replace(/"/g, '""')}"${gap}${pick(rnd, gap ? ['x', '"x', '9'] : ['x', '9', 'é'])}`;
        strictField = field;
      } else if (here && leniency === 'unclosed-quote') {
        // Always last in the text: everything after the opening quote is inside it.
        field = `"${quotedContent(rnd, delimiter).replace(/"/g, '""')}`;
        input += field;
        return { input, strict: input, delimiter, starts };
      } else if (rnd() < 0.45) {
        field = `"${quotedContent(rnd, delimiter).replace(/"/g, '""')}"`;
        strictField = field;
      } else {
        field = text(rnd, delimiter, 6);
        strictField = field;
      }
      input += field;
      strict += strictField;
    }
    if (r < records - 1 || rnd() < 0.5) {
      const lineBreak = pick(rnd, BREAKS);
      input += lineBreak;
      strict += lineBreak;
    }
  }
  return { input, strict, delimiter, starts };
}

interface Read {
  records: string[][];
  lines: number[];
  error?: ImportFileError;
}

/** The reader over `input` in random chunks of 1 to 16 code units (splitting CRLFs, `""` and surrogate pairs). */
function readInChunks(rnd: Random, input: string, delimiter: string): Read {
  const records: string[][] = [];
  const lines: number[] = [];
  const reader = new CsvRecordReader((record, line) => {
    records.push(record);
    lines.push(line);
  }, delimiter);
  try {
    for (let at = 0; at < input.length; ) {
      const size = rnd() < 0.2 ? 1 : 1 + int(rnd, 16);
      reader.write(input.slice(at, at + size));
      at += size;
    }
    reader.end();
  } catch (err) {
    if (!(err instanceof ImportFileError)) throw err;
    return { records, lines, error: err };
  }
  return { records, lines };
}

const csvParseOptions = (delimiter: string, relaxQuotes = false): Options => ({
  delimiter,
  quote: '"',
  escape: '"',
  record_delimiter: ['\r\n', '\n', '\r'],
  relax_column_count: true,
  relax_quotes: relaxQuotes,
  skip_empty_lines: false,
  bom: false,
});

function csvParse(input: string, delimiter: string, relaxQuotes = false): string[][] {
  return parse(input, csvParseOptions(delimiter, relaxQuotes)) as string[][];
}

/** The physical line each generated record starts on: 1 + the line breaks before it (CRLF once). */
function expectedLines(input: string, starts: number[]): number[] {
  return starts.map((start) => 1 + (input.slice(0, start).match(/\r\n|\r|\n/g)?.length ?? 0));
}

// Plain comparisons in the loops, failing with the text that differs (jest's expect per case is slow and says less).
function expectSame(g: Generated, read: Read, expected: string[][]): void {
  if (read.error || JSON.stringify(read.records) !== JSON.stringify(expected)) {
    throw new Error(
      `records differ for ${JSON.stringify(g.input)} (delimiter ${JSON.stringify(g.delimiter)}):\n` +
        `reader    ${read.error ? read.error.message : JSON.stringify(read.records)}\ncsv-parse ${JSON.stringify(expected)}`,
    );
  }
}

function expectRefused(input: string, delimiter: string, code: string): void {
  try {
    csvParse(input, delimiter);
  } catch (err) {
    if ((err as { code?: string }).code === code) return;
    throw new Error(`csv-parse refused ${JSON.stringify(input)} with ${(err as { code?: string }).code}, not ${code}`);
  }
  throw new Error(`strict csv-parse took ${JSON.stringify(input)}`);
}

describe('the CSV reader and csv-parse agree on generated hostile input', () => {
  test.each([1, 2, 3])('strict RFC 4180 input (seed %i): the same records, in any chunking, on the right lines', (seed) => {
    const rnd = prng(seed);
    let compared = 0;
    let linesChecked = 0;
    for (let i = 0; i < CASES; i++) {
      const g = generate(rnd, 'strict');
      const expected = csvParse(g.input, g.delimiter);
      const read = readInChunks(rnd, g.input, g.delimiter);
      expectSame(g, read, expected);
      compared++;
      if (read.records.length === g.starts.length) {
        const lines = expectedLines(g.input, g.starts);
        if (read.lines.join() !== lines.join()) {
          throw new Error(`lines differ for ${JSON.stringify(g.input)}: reader ${read.lines}, expected ${lines}`);
        }
        linesChecked++;
      }
    }
    expect(compared).toBe(CASES);
    // Most texts keep their generated records (the rest end on an empty line or join a CR and an LF line).
    expect(linesChecked).toBeGreaterThan(CASES * 0.7);
  });

  test('a quote inside an unquoted field is text: as csv-parse with relax_quotes (strict csv-parse refuses it)', () => {
    const rnd = prng(11);
    for (let i = 0; i < CASES; i++) {
      const g = generate(rnd, 'quote-in-unquoted');
      const read = readInChunks(rnd, g.input, g.delimiter);
      expectSame(g, read, csvParse(g.input, g.delimiter, true));
      expectRefused(g.input, g.delimiter, 'INVALID_OPENING_QUOTE');
    }
  });

  test('blanks after a closing quote are ignored: as strict csv-parse reads the text without them', () => {
    const rnd = prng(12);
    for (let i = 0; i < CASES; i++) {
      const g = generate(rnd, 'blank-after-quote');
      const read = readInChunks(rnd, g.input, g.delimiter);
      expectSame(g, read, csvParse(g.strict, g.delimiter));
      expectRefused(g.input, g.delimiter, 'CSV_INVALID_CLOSING_QUOTE');
    }
  });

  test('text after a closing quote, and an unclosed quote, are malformed_csv; csv-parse refuses both', () => {
    const rnd = prng(13);
    for (const leniency of ['text-after-quote', 'unclosed-quote'] as const) {
      for (let i = 0; i < CASES; i++) {
        const g = generate(rnd, leniency);
        const read = readInChunks(rnd, g.input, g.delimiter);
        if (read.error?.code !== 'malformed_csv') throw new Error(`the reader took ${JSON.stringify(g.input)}: ${JSON.stringify(read.records)}`);
        expectRefused(g.input, g.delimiter, leniency === 'unclosed-quote' ? 'CSV_QUOTE_NOT_CLOSED' : 'CSV_INVALID_CLOSING_QUOTE');
      }
    }
  });
});
