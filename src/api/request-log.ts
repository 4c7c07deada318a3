/**
 * What the request log may say about a URL. A download link is a credential that works without a token: its path
 * holds it (`/downloads/<token>`) or, for the older signed links, its query string (`?expires=&signature=`). So
 * everything after `/downloads/` is replaced; elsewhere, the values of parameters that carry a credential are.
 */

const SECRET_PARAMS = /^(signature|token|access_token|api_key|apikey|key|secret|x-amz-signature|x-amz-credential|x-amz-security-token)$/i;
const REDACTED = '[redacted]';

const DOWNLOADS = '/downloads/';

export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  if (url.startsWith(DOWNLOADS)) return `${DOWNLOADS}${REDACTED}`;
  const q = url.indexOf('?');
  if (q === -1) return url;
  const path = url.slice(0, q);
  if (path === '/downloads') return `${path}?${REDACTED}`;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return eq !== -1 && SECRET_PARAMS.test(safeDecode(name)) ? `${name}=${REDACTED}` : pair;
    });
  return `${path}?${params.join('&')}`;
}

/** The parsed query, with the same rule. */
export function redactQuery(path: string | undefined, query: unknown): unknown {
  if (query === null || typeof query !== 'object') return query;
  const p = (path ?? '').split('?', 1)[0];
  if (p === '/downloads' || p.startsWith('/downloads/')) return Object.keys(query).length > 0 ? REDACTED : query;
  return Object.fromEntries(Object.entries(query).map(([name, value]) => [name, SECRET_PARAMS.test(name) ? REDACTED : value]));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** pino-http's request serializer: the standard fields, with the URL and query redacted (and the Referer, which may hold a link). */
export function serializeRequest(req: { url?: string; query?: unknown; headers?: Record<string, unknown> } & Record<string, unknown>) {
  const headers = req.headers && 'referer' in req.headers ? { ...req.headers, referer: REDACTED } : req.headers;
  return { ...req, url: redactUrl(req.url), query: redactQuery(req.url, req.query), headers };
}
