import { NdjsonRecordWriter } from '../../src/exports/ndjson';

/** The NDJSON record writer on rows of COPY text as Postgres sends them (the real-Postgres check: exports-range). */
describe('NdjsonRecordWriter', () => {
  const writer = new NdjsonRecordWriter([
    { name: 'id', kind: 'string' },
    { name: 'name', kind: 'string' },
    { name: 'tags', kind: 'json' },
    { name: 'n', kind: 'json' },
  ]);
  const write = (row: string) => {
    const source = Buffer.from(row, 'utf8');
    const out = Buffer.alloc(writer.maxBytes(source.length));
    return out.toString('utf8', 0, writer.write(source, 0, source.length, out, 0));
  };

  test('plain fields, null, and COPY escapes undone then written as JSON', () => {
    expect(write('a\tplain é\t["x"]\t7')).toBe('{"id":"a","name":"plain é","tags":["x"],"n":7}\n');
    expect(write('a\t\\N\t\\N\t\\N')).toBe('{"id":"a","name":null,"tags":null,"n":null}\n');
    expect(write('a\tq"\\\\\\t\\n\\r\\b\\f\\v\u0001\t["b\\\\"c"]\t1')).toBe(
      `{"id":"a","name":${JSON.stringify('q"\\\t\n\r\b\f\v\u0001')},"tags":["b\\"c"],"n":1}\n`,
    );
    // A value that is the text \N is not null; an empty one is "".
    expect(write('a\t\\\\N\t[]\t0')).toBe('{"id":"a","name":"\\\\N","tags":[],"n":0}\n');
    expect(write('\t\t[]\t0')).toBe('{"id":"","name":"","tags":[],"n":0}\n');
  });

  test('a row of another number of fields is refused, not written half', () => {
    expect(() => write('a\tb\t[]')).toThrow('fewer than 4 fields');
    expect(() => write('a\tb\t[]\t1\textra')).toThrow('more than 4 fields');
  });

  test('the room it asks for holds the worst case: every byte a control character', () => {
    const row = `a\t${'\u0001'.repeat(100)}\t[]\t1`;
    expect(Buffer.byteLength(write(row))).toBeLessThanOrEqual(writer.maxBytes(Buffer.byteLength(row)));
  });
});
