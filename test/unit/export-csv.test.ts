import { parse } from 'csv-parse/sync';
import { columnsForRole, EXPORT_COLUMNS, forbiddenColumns } from '../../src/exports/columns';
import { csvHeader, csvRecord, escapeFormula, jsonbText, unescapeFormula } from '../../src/exports/csv';
import { cellValue } from '../../src/imports/rows';
import { EventEmitter } from 'node:events';
import type { Connection } from 'pg';
import { CopyOutRecords, type RecordBlock } from '../../src/exports/copy-out';

describe('escapeFormula', () => {
  test.each([
    ['=1+2', "'=1+2"],
    ['+SUM(A1)', "'+SUM(A1)"],
    ['-cmd', "'-cmd"],
    ['@risky', "'@risky"],
    ['\tTab', "'\tTab"],
    ['\rCR', "'\rCR"],
    ['+', "'+"],
    ['-', "'-"],
    ['--5', "'--5"],
    ['+1-2', "'+1-2"],
    ['-1e', "'-1e"],
    // A leading quote that the import would drop is doubled.
    ["'=already", "''=already"],
    ["''+", "'''+"],
    ["'''", "''''"],
    ["''", "'''"],
    ["'-5", "''-5"],
    ["'+34600111222", "''+34600111222"],
    ["'@x", "''@x"],
    ["'\tx", "''\tx"],
    ["'\rx", "''\rx"],
  ])('%j is escaped', (value, escaped) => {
    expect(escapeFormula(value)).toBe(escaped);
  });

  test.each(['+34600111222', '-12', '-12.5', '+.5', '-1e10', '+3.0E-2', '42', '-5', 'plain', '', "'", "'plain", "'5", "' =x", 'a=b', ' =x'])(
    '%j is left alone',
    (value) => {
      expect(escapeFormula(value)).toBe(value);
    },
  );

  test('the import rule undoes it: a first quote before a formula start or a quote is dropped', () => {
    for (const value of ['=1+2', '+SUM(A1)', '-cmd', '@x', '\tx', '\rx', '+34600111222', '-12.5', 'plain', '+', "'=x", "''", "'"]) {
      expect(unescapeFormula(escapeFormula(value))).toBe(value);
    }
    expect(unescapeFormula("'plain")).toBe("'plain");
    expect(unescapeFormula("''")).toBe("'");
    expect(cellValue("''=x")).toBe("'=x");
    // NDJSON values are not escaped: read as given.
    expect(cellValue("'=x", false)).toBe("'=x");
  });

  /** mulberry32: the same sequence for a seed everywhere. */
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

  test('property: unescapeFormula(escapeFormula(s)) === s, and the escape is exact, for generated strings', () => {
    const rnd = prng(12);
    // Weighted towards what the rules look at: quotes, formula starts, digits, signs, dots, exponents; unicode too.
    const alphabet = ["'", "'", "'", '=', '+', '-', '@', '\t', '\r', '\n', '0', '5', '9', '.', 'e', 'E', ' ', 'a', 'Z', 'é', '日', '😀', ',', '"'];
    const fixed = ["'=", "''+", "'''", '-1', '+34600111222', '-', "'", "'-5", '-5', '\t=', '\rx', "'\t", "'\r", '=1+1', '@x', 'Ünïcode', '😀=', "'😀"];
    const samples = [...fixed];
    for (let i = 0; i < 20_000; i++) {
      let s = '';
      for (let n = 1 + Math.floor(rnd() * 8); n > 0; n--) s += alphabet[Math.floor(rnd() * alphabet.length)];
      samples.push(s);
    }
    const startsFormula = (s: string) => /^[=+\-@\t\r]/.test(s);
    const isNumber = (s: string) => /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s);
    for (const s of samples) {
      const escaped = escapeFormula(s);
      expect(unescapeFormula(escaped)).toBe(s);
      // API.md's rule, written out: one more quote exactly when a spreadsheet or the import would misread the value.
      const needsQuote = (startsFormula(s) && !isNumber(s)) || /^'[=+\-@\t\r']/.test(s);
      expect(escaped).toBe(needsQuote ? `'${s}` : s);
      // What the import reads (then trims): the stored value, for every value a rule can store (trimmed already).
      if (s.trim() === s) expect(cellValue(escaped)).toBe(s);
    }
  });
});

describe('CSV records', () => {
  test('RFC 4180 quoting and CRLF', () => {
    expect(csvRecord(['a', null, 'b,c', 'say "hi"', 'line\nbreak', 'cr\rhere', ''])).toBe(
      'a,,"b,c","say ""hi""","line\nbreak","cr\rhere",\r\n',
    );
    expect(csvHeader(['id', 'vendor_data'])).toBe('id,vendor_data\r\n');
  });

  test('jsonbText writes JSON as Postgres does (keys by length, then bytes)', () => {
    const value = { bb: 1, a: 'x', ccc: [1, { z: null, y: true }], é: 'ü' };
    expect(jsonbText(value)).toBe('{"a": "x", "bb": 1, "é": "ü", "ccc": [1, {"y": true, "z": null}]}');
    expect(JSON.parse(jsonbText(value))).toEqual(value);
  });
});

describe('columns by role', () => {
  test('defaults and forbidden columns', () => {
    expect(columnsForRole('OWNER')).toEqual([...EXPORT_COLUMNS]);
    expect(columnsForRole('COMPLIANCE_OFFICER')).toEqual([...EXPORT_COLUMNS]);
    expect(columnsForRole('READER')).not.toContain('email');
    expect(forbiddenColumns('DEVELOPER', ['id', 'email', 'metadata_json'])).toEqual(['email', 'metadata_json']);
    expect(forbiddenColumns('ADMIN', ['email'])).toEqual([]);
  });
});

/** Protocol messages as a server sends them during COPY TO STDOUT. */
const message = (code: string, payload: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(code, 0, 'latin1');
  head.writeUInt32BE(payload.length + 4, 1);
  return Buffer.concat([head, payload]);
};

/** A stand-in for pg's connection: a paused socket that hands out the given chunks, and pg's own data handler. */
class FakeConnection {
  onError?: (err: Error) => void;
  readonly handedBack: Buffer[] = [];
  readonly queries: string[] = [];
  private readonly chunks: Buffer[];
  readonly stream: EventEmitter & { read(): Buffer | null; pause(): void; resume(): void };
  constructor(chunks: Buffer[]) {
    this.chunks = [...chunks];
    const emitter = new EventEmitter() as FakeConnection['stream'];
    emitter.read = () => this.chunks.shift() ?? null;
    emitter.pause = () => undefined;
    // As a socket does: once resumed, what is still unread flows to the data listeners.
    emitter.resume = () => {
      for (let chunk = this.chunks.shift(); chunk; chunk = this.chunks.shift()) emitter.emit('data', chunk);
    };
    emitter.on('data', (chunk: Buffer) => {
      this.handedBack.push(chunk);
      // pg, reading an ErrorResponse, fails the query.
      if (chunk[0] === 0x45) this.onError?.(new Error('boom'));
    });
    this.stream = emitter;
  }
  query(text: string) {
    this.queries.push(text);
    setImmediate(() => this.stream.emit('readable'));
  }
}

async function readAll(chunks: Buffer[], blockBytes = 64, options: { idIsFirstCell?: boolean } = {}) {
  const connection = new FakeConnection(chunks);
  const copy = new CopyOutRecords('COPY x TO STDOUT', blockBytes, 2, options);
  connection.onError = (err) => copy.handleError(err);
  copy.submit(connection as unknown as Connection);
  const blocks: { text: string; rows: number; lastId: string }[] = [];
  let error: unknown;
  try {
    for await (const item of copy) {
      const block = item as RecordBlock;
      blocks.push({ text: block.data.toString('utf8'), rows: block.rows, lastId: block.lastId });
      block.release();
    }
  } catch (err) {
    error = err;
  }
  return { blocks, error, handedBack: Buffer.concat(connection.handedBack), queries: connection.queries };
}

describe('CopyOutRecords', () => {
  const id = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;
  const rows = [
    `${id(1)},plain,"with ""quotes"", and comma",\n`,
    `${id(2)},"multi\nline\ncell","tricky "","" \n",x\n`,
    `${id(3)},ünïcødé 😀,,"{""a"": ""b\\nc""}"\n`,
  ];
  const after = Buffer.concat([message('C', Buffer.from('COPY 3\0')), message('Z', Buffer.from('I'))]);
  const wire = Buffer.concat([
    message('H', Buffer.from([0, 0, 0])),
    ...rows.map((r) => message('d', Buffer.from(r, 'utf8'))),
    message('c', Buffer.alloc(0)),
    after,
  ]);
  const expected = [
    'plain,"with ""quotes"", and comma",\r\n',
    '"multi\nline\ncell","tricky "","" \n",x\r\n',
    'ünïcødé 😀,,"{""a"": ""b\\nc""}"\r\n',
  ].join('');

  test('one record per CopyData message: the id cut off, CRLF at the end, line breaks inside cells kept', async () => {
    const { blocks, handedBack, queries } = await readAll([wire], 1024);
    expect(queries).toEqual(['COPY x TO STDOUT']);
    expect(blocks.map((b) => b.text).join('')).toBe(expected);
    expect(blocks.reduce((n, b) => n + b.rows, 0)).toBe(3);
    expect(blocks[blocks.length - 1].lastId).toBe(id(3));
    expect(parse(blocks.map((b) => b.text).join(''))).toHaveLength(3);
    // What follows CopyDone is pg's to read.
    expect(handedBack).toEqual(after);
  });

  test('the same records whatever the socket reads (every split point, and byte by byte), in small blocks', async () => {
    for (let split = 0; split <= wire.length; split++) {
      const { blocks, handedBack } = await readAll([wire.subarray(0, split), wire.subarray(split)].filter((c) => c.length > 0), 40);
      expect(blocks.map((b) => b.text).join('')).toBe(expected);
      expect(blocks.every((b) => b.text.endsWith('\r\n'))).toBe(true);
      expect(handedBack).toEqual(after);
    }
    const bytes = Array.from({ length: wire.length }, (_, i) => wire.subarray(i, i + 1));
    const { blocks } = await readAll(bytes, 40);
    expect(blocks.map((b) => b.text).join('')).toBe(expected);
    expect(blocks.map((b) => b.lastId)).toEqual(blocks.map((b) => b.lastId).sort());
  });

  test('with idIsFirstCell the id stays the first cell of each record, and is still the last id', async () => {
    const { blocks } = await readAll([wire], 1024, { idIsFirstCell: true });
    expect(blocks.map((b) => b.text).join('')).toBe(rows.map((r) => `${r.slice(0, -1)}\r\n`).join(''));
    expect(blocks[blocks.length - 1].lastId).toBe(id(3));
    // The id the only cell: a record without a separator.
    const only = await readAll([Buffer.concat([message('d', Buffer.from(`${id(4)}\n`)), message('c', Buffer.alloc(0)), after])], 1024, {
      idIsFirstCell: true,
    });
    expect(only.blocks.map((b) => [b.text, b.lastId])).toEqual([[`${id(4)}\r\n`, id(4)]]);
  });

  test('an error from the server is handed to pg', async () => {
    const error = message('E', Buffer.from('SERROR\0Mboom\0\0'));
    const result = await readAll([Buffer.concat([message('d', Buffer.from(rows[0])), error])], 1024);
    expect(result.blocks).toEqual([]);
    expect(result.handedBack).toEqual(error);
    expect(result.error).toEqual(new Error('boom'));
  });
});
