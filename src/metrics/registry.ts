import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * A registry of its own for one process part (the API, the worker), with prom-client's default process metrics
 * (`process_*`, `nodejs_*`). Never prom-client's global registry: tests run several APIs and workers in one process.
 */
export function createMetricsRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}
