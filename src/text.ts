/**
 * Text that Postgres cannot store, found and made safe in one place. `text` and `jsonb` refuse U+0000, and a lone
 * UTF-16 surrogate (which JSON's `"\ud800"` can produce) has no UTF-8 form; both are refused at the edges (the API's
 * input guard, the field rules, an import file's header) and replaced in messages the service writes itself.
 */

const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex
const UNSTORABLE_ALL = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Whether `value` holds U+0000 or a lone surrogate. */
export function hasUnstorable(value: string): boolean {
  // Two plain scans first: this runs on every cell of files of a million rows.
  return value.includes('\u0000') || (SURROGATE.test(value) && LONE_SURROGATE.test(value));
}

/** What is wrong with an unstorable value, for a message. */
export function unstorableReason(value: string): string {
  return value.includes('\u0000') ? 'a NUL character (U+0000)' : 'a lone UTF-16 surrogate';
}

/** `value` with unstorable characters replaced by U+FFFD and cut to `maxChars` (with `…`): safe for a log or a column. */
export function storable(value: string, maxChars = 2000): string {
  const safe = value.replace(UNSTORABLE_ALL, '\uFFFD');
  if (safe.length <= maxChars) return safe;
  let cut = safe.slice(0, maxChars - 1);
  // Never end on the first half of a surrogate pair: that half alone would be unstorable again.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** The JSON nesting a value may have (an object or array is one level), checked without recursion. */
export const MAX_JSON_DEPTH = 64;

export type JsonProblem = { kind: 'too_deep'; path: (string | number)[] } | { kind: 'unstorable'; path: (string | number)[]; reason: string };

/**
 * The first problem of a parsed JSON value: nesting over `maxDepth`, or a key or string Postgres cannot store. An
 * explicit stack, not recursion: a body nested a million deep is walked without overflowing the call stack.
 */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): JsonProblem | undefined {
  const stack: { value: unknown; path: (string | number)[]; depth: number }[] = [{ value, path: [], depth: 0 }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const current = item.value;
    if (typeof current === 'string') {
      if (hasUnstorable(current)) return { kind: 'unstorable', path: item.path, reason: unstorableReason(current) };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    const depth = item.depth + 1;
    if (depth > maxDepth) return { kind: 'too_deep', path: item.path };
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: [...item.path, i], depth });
      continue;
    }
    const keys = Object.keys(current);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i];
      if (hasUnstorable(key)) return { kind: 'unstorable', path: [...item.path, key], reason: unstorableReason(key) };
      stack.push({ value: (current as Record<string, unknown>)[key], path: [...item.path, key], depth });
    }
  }
  return undefined;
}
