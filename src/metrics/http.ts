import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';

/** The `route` label of a request no route matched (404s, and the console's static files). */
export const UNMATCHED_ROUTE = 'unmatched';

const ROUTE_LABEL = Symbol('metricsRoute');
type Labelled = Request & { [ROUTE_LABEL]?: string };

function patternOf(path: unknown): string {
  if (typeof path === 'string') return path === '/' ? '' : path;
  // A RegExp or an array route (the console's SPA fallback `/.*/`): one fixed label for all it matches.
  return '/*';
}

/**
 * Counts and times every request by method, route pattern and status: `kyc_http_requests_total` and
 * `kyc_http_request_duration_seconds`. The route is the Express pattern (`/console/users/imports/:id`), never the
 * path: it is taken at the moment the router matches a route (req.baseUrl is the mount path then; by the time the
 * response ends, an error passed out of a router has reset it).
 */
export function httpMetrics(registry: Registry): RequestHandler {
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'kyc_http_requests_total',
    help: 'HTTP requests answered by the API, by method, route pattern and status.',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'kyc_http_request_duration_seconds',
    help: 'Time to answer an HTTP request of the API (to the last byte written), by method, route pattern and status.',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  return (req: Request, res: Response, next: NextFunction) => {
    const end = duration.startTimer();
    const labelled = req as Labelled;
    let route: unknown;
    // The router assigns req.route when a route matches; its full pattern is the mount path plus the route's.
    Object.defineProperty(req, 'route', {
      configurable: true,
      enumerable: true,
      get: () => route,
      set: (value: { path?: unknown } | undefined) => {
        route = value;
        // Lower case: Express matches mount paths case-insensitively, and the label must not vary with the URL's case.
        if (value) labelled[ROUTE_LABEL] = `${req.baseUrl.toLowerCase()}${patternOf(value.path)}` || '/';
      },
    });
    res.once('finish', () => {
      const labels = { method: methodLabel(req.method), route: labelled[ROUTE_LABEL] ?? UNMATCHED_ROUTE, status: String(res.statusCode) };
      requests.inc(labels);
      end(labels);
    });
    next();
  };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** The method as a fixed set (any other verb a client makes up is `OTHER`). */
function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'OTHER';
}

/** `GET /metrics`: the registry in Prometheus text format. */
export function metricsHandler(registry: Registry): RequestHandler {
  return (_req, res, next) => {
    registry.metrics().then((text) => {
      res.setHeader('content-type', registry.contentType);
      res.setHeader('cache-control', 'no-store');
      res.end(text);
    }, next);
  };
}
