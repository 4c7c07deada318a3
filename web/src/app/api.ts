/** The one HTTP client of the console: adds the operator token, turns every failure into an ApiError. */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let token: string | null = null;
let onUnauthorized: ((err: ApiError) => void) | null = null;

export function setApiToken(value: string | null): void {
  token = value;
}

/** Called on any 401, from any call: the session ends. */
export function setUnauthorizedHandler(handler: ((err: ApiError) => void) | null): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
  /** Use this token instead of the session's (the sign-in check). */
  token?: string;
  /** Do not end the session on a 401 (the sign-in check handles it itself). */
  quiet401?: boolean;
}

async function send(path: string, opts: RequestOptions, accept: string): Promise<Response> {
  const headers: Record<string, string> = { Accept: accept };
  const bearer = opts.token ?? token;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let body: BodyInit | undefined;
  if (opts.form) body = opts.form;
  else if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? 'GET', headers, body, signal: opts.signal, credentials: 'omit' });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', 'The API could not be reached. Check your connection and try again.');
  }
  if (res.ok) return res;
  const error = await errorFrom(res);
  if (res.status === 401 && !opts.quiet401) onUnauthorized?.(error);
  throw error;
}

async function errorFrom(res: Response): Promise<ApiError> {
  let payload: unknown = null;
  try {
    payload = await res.json();
  } catch {
    // not JSON: fall through to a generic message
  }
  const err = (payload as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (err && typeof err.code === 'string') {
    return new ApiError(res.status, err.code, typeof err.message === 'string' ? err.message : err.code, err.details);
  }
  return new ApiError(res.status, `http_${res.status}`, `The API answered ${res.status} ${res.statusText}`.trim());
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const res = await send(path, opts, 'application/json');
  if (res.status === 204) return undefined as T;
  try {
    return (await res.json()) as T;
  } catch {
    throw new ApiError(res.status, 'invalid_response', 'The API answered with something that is not JSON.');
  }
}

/** Fetches a file that needs the token (so a plain link will not do) and saves it through an object URL. */
export async function downloadWithToken(path: string, fallbackName: string): Promise<void> {
  const res = await send(path, {}, 'text/csv, */*');
  const blob = await res.blob();
  const name = fileNameFrom(res.headers.get('Content-Disposition')) ?? fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function fileNameFrom(disposition: string | null): string | null {
  if (!disposition) return null;
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (star?.[1]) {
    try {
      return decodeURIComponent(star[1]);
    } catch {
      // ignore a broken encoding
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  return plain?.[1] ?? null;
}

/** `?a=1&b=2`, leaving out empty values. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
