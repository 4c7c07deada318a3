import iconv from 'iconv-lite';
import { ImportFileError } from './columns';
import type { ImportDelimiter, ImportEncoding, ImportFormat } from './options';

/**
 * What an import file is, decided from a bounded prefix of its bytes (SNIFF_BYTES), never the whole file: the format
 * (and, where the content does not tell, the file name's extension), the text encoding and the CSV delimiter. An
 * option given by the operator always wins over what is detected.
 */

/** How much of the file detection looks at. */
export const SNIFF_BYTES = 64 * 1024;

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

export function isZip(prefix: Buffer): boolean {
  return prefix.length >= 4 && ZIP_MAGIC.every((b, i) => prefix[i] === b);
}

/** The encoding a byte-order mark names, if the file starts with one. */
function bomEncoding(prefix: Buffer): ImportEncoding | undefined {
  if (prefix.length >= 3 && prefix[0] === 0xef && prefix[1] === 0xbb && prefix[2] === 0xbf) return 'utf-8';
  if (prefix.length >= 2 && prefix[0] === 0xff && prefix[1] === 0xfe) return 'utf-16le';
  if (prefix.length >= 2 && prefix[0] === 0xfe && prefix[1] === 0xff) return 'utf-16be';
  return undefined;
}

/** Turns bytes into text, chunk by chunk (a character split across chunks is held back). */
export interface ChunkDecoder {
  readonly encoding: ImportEncoding;
  /** Throws an ImportFileError `invalid_encoding` on bytes that are not valid in the encoding. */
  write(chunk: Buffer): string;
  end(): string;
}

/**
 * A file assumed to be UTF-8 (no option, no BOM, its first SNIFF_BYTES valid UTF-8) that is not valid UTF-8 further
 * on. API.md says such a file is windows-1252: the reader that meets this starts over in that encoding
 * (stageImportFile). One exception: a file that holds UTF-8 characters and only ends inside one is a cut-off UTF-8
 * file and stays `invalid_encoding` (an ASCII file ending in one accented windows-1252 letter, `...,José`, looks the
 * same at its end and is windows-1252).
 */
export class NotUtf8AfterAllError extends ImportFileError {}

function textDecoder(encoding: Exclude<ImportEncoding, 'iso-8859-1'>, how: string, assumed = false): ChunkDecoder {
  // windows-1252 maps every byte, so only UTF-8 and UTF-16 can fail. The BOM, if any, is dropped.
  const decoder = new TextDecoder(encoding, { fatal: true });
  let bytes = 0;
  /**
   * Whether the text so far held a character past ASCII: then it was UTF-8 (tracked only when UTF-8 is assumed). One
   * scan of each chunk until one is found: within the noise of reading the benchmark's 100,000 ASCII rows (best of 10,
   * three alternating runs: 349-366 ms without it, 356-374 ms with it).
   */
  let sawUtf8 = false;
  const invalid = (detail: string, notThisEncoding = assumed) =>
    new (notThisEncoding ? NotUtf8AfterAllError : ImportFileError)(
      'invalid_encoding',
      `the file is not valid ${encoding} (${how}): ${detail}; if it is in another encoding, give the \`encoding\` option ` +
        `(utf-8, utf-16le, utf-16be, windows-1252, iso-8859-1)`,
    );
  return {
    encoding,
    write(chunk) {
      try {
        const text = decoder.decode(chunk, { stream: true });
        bytes += chunk.length;
        // eslint-disable-next-line no-control-regex
        if (assumed && !sawUtf8) sawUtf8 = /[^\u0000-\u007f]/.test(text);
        return text;
      } catch {
        throw invalid(`an invalid byte sequence within bytes ${bytes}-${bytes + chunk.length - 1}`);
      }
    },
    end() {
      try {
        return decoder.decode();
      } catch {
        throw invalid('it ends inside a multi-byte character', assumed && !sawUtf8);
      }
    },
  };
}

/** ISO-8859-1 proper (TextDecoder's "iso-8859-1" is windows-1252): iconv-lite. */
function latin1Decoder(): ChunkDecoder {
  const decoder = iconv.getDecoder('iso-8859-1');
  return { encoding: 'iso-8859-1', write: (chunk) => decoder.write(chunk), end: () => decoder.end() ?? '' };
}

function chunkDecoder(encoding: ImportEncoding, how: string, assumed = false): ChunkDecoder {
  return encoding === 'iso-8859-1' ? latin1Decoder() : textDecoder(encoding, how, assumed);
}

/**
 * The decoder for a file that begins with `prefix` (SNIFF_BYTES or the whole file, `whole`), and the prefix's text.
 * Given: that encoding. Else a BOM; else UTF-8 when the prefix is valid UTF-8 (a character cut off at the prefix's end
 * is fine) and the file was not found otherwise by an earlier read (`notUtf8`: bytes after the prefix were not UTF-8,
 * NotUtf8AfterAllError); else windows-1252, unless the bytes hold NUL, which no text in a single-byte encoding does
 * (a binary file, or UTF-16 without a BOM).
 */
export function openDecoder(prefix: Buffer, given: ImportEncoding | undefined, notUtf8 = false): { decoder: ChunkDecoder; text: string } {
  if (given !== undefined) {
    const decoder = chunkDecoder(given, 'the encoding given');
    return { decoder, text: decoder.write(prefix) };
  }
  const bom = bomEncoding(prefix);
  if (bom !== undefined) {
    const decoder = chunkDecoder(bom, 'its byte-order mark says so');
    return { decoder, text: decoder.write(prefix) };
  }
  if (!notUtf8) {
    // Only a prefix without NUL may turn out to be windows-1252 (below): with NUL, a later bad byte is invalid_encoding.
    const utf8 = chunkDecoder('utf-8', `assumed because its first ${SNIFF_BYTES / 1024} KiB are valid UTF-8`, !prefix.includes(0));
    try {
      return { decoder: utf8, text: utf8.write(prefix) };
    } catch {
      // Not UTF-8: windows-1252, below.
    }
  }
  if (prefix.includes(0)) {
    throw new ImportFileError(
      'invalid_encoding',
      'the file is not text: it is not UTF-8 and holds NUL bytes (a binary file, or UTF-16 without a byte-order mark); ' +
        'if it is text, give the `encoding` option (utf-8, utf-16le, utf-16be, windows-1252, iso-8859-1)',
    );
  }
  const decoder = chunkDecoder('windows-1252', 'assumed because it is not UTF-8');
  return { decoder, text: decoder.write(prefix) };
}

/** The end of the first line of `text` (CR or LF), or -1 when the line goes on past it. */
function lineEnd(text: string, from = 0): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}

/** ndjson when the first non-blank character is `{` and the first line is a JSON object; else csv. */
export function detectTextFormat(text: string): Exclude<ImportFormat, 'xlsx'> {
  let i = 0;
  while (i < text.length && /\s/.test(text[i])) i++;
  if (text[i] !== '{') return 'csv';
  const end = lineEnd(text, i);
  // A first line longer than the prefix: `{` is enough (no CSV header starts with one and runs past 64 KiB).
  if (end === -1 && text.length - i >= SNIFF_BYTES / 2) return 'ndjson';
  try {
    const value: unknown = JSON.parse(end === -1 ? text.slice(i) : text.slice(i, end));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? 'ndjson' : 'csv';
  } catch {
    return 'csv';
  }
}

const EXTENSION_FORMATS: Readonly<Record<string, ImportFormat>> = {
  ndjson: 'ndjson',
  jsonl: 'ndjson',
  xlsx: 'xlsx',
  csv: 'csv',
  tsv: 'csv',
  txt: 'csv',
};

/** The format a file name's extension names (`.ndjson`, `.jsonl`, `.xlsx`, `.csv`, `.tsv`, `.txt`), if any. */
export function formatOfName(fileName: string | undefined): ImportFormat | undefined {
  const extension = /\.([^./\\]+)$/.exec(fileName?.trim() ?? '')?.[1].toLowerCase();
  return extension !== undefined && Object.hasOwn(EXTENSION_FORMATS, extension) ? EXTENSION_FORMATS[extension] : undefined;
}

const CANDIDATES: readonly ImportDelimiter[] = [',', ';', '\t', '|'];

/** Excel's `sep=;` first line: the delimiter it names and where the header starts, or undefined. */
export function sepLine(text: string): { delimiter: ImportDelimiter; rest: number } | undefined {
  const m = /^sep=(.)(\r\n|\r|\n|$)/i.exec(text.slice(0, 8));
  if (!m) return undefined;
  const delimiter = CANDIDATES.find((d) => d === m[1]);
  return delimiter && { delimiter, rest: m[0].length };
}

/** The candidate that occurs most outside quotes in the header line (ties, and none at all: `,`). */
export function detectDelimiter(text: string): ImportDelimiter {
  const counts = [0, 0, 0, 0];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === '\n' || c === '\r')) break;
    else if (!quoted) {
      const k = CANDIDATES.indexOf(c as ImportDelimiter);
      if (k !== -1) counts[k]++;
    }
  }
  let best = 0;
  for (let k = 1; k < counts.length; k++) if (counts[k] > counts[best]) best = k;
  return CANDIDATES[best];
}
