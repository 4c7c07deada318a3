import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../logger';

/** A free TCP port on loopback, to hand to a listener that cannot take port 0 and tell which it got (the SDK's). */
export async function freeLoopbackPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface MetricsServer {
  /** `http://host:port/metrics`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * The worker's `/metrics` listener: the registry's metrics followed by the Temporal SDK's own (its Prometheus
 * exporter on an internal loopback address, `sdkMetricsUrl`), so that one scrape gets both. When the SDK's exporter
 * does not answer within a second, the answer has ours alone and `kyc_temporal_sdk_metrics_up` is 0.
 */
export async function startMetricsServer(options: {
  registry: Registry;
  host: string;
  port: number;
  sdkMetricsUrl?: string;
  logger?: Logger;
}): Promise<MetricsServer> {
  const { registry, sdkMetricsUrl } = options;
  /** The SDK's text for the answer being collected (read while our registry collects: the exporter is a thread of its own). */
  let sdkRead: Promise<string> = Promise.resolve('');
  if (sdkMetricsUrl) {
    new Gauge({
      name: 'kyc_temporal_sdk_metrics_up',
      help: "1 when the Temporal SDK's metrics (temporal_*) were read for this answer, 0 when its exporter did not answer.",
      registers: [registry],
      async collect() {
        this.set((await sdkRead) ? 1 : 0);
      },
    });
  }
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    void (async () => {
      const sdk = sdkMetricsUrl
        ? readSdkMetrics(sdkMetricsUrl).catch((err: unknown) => {
            options.logger?.warn({ err }, 'the Temporal SDK metrics did not answer');
            return '';
          })
        : Promise.resolve('');
      sdkRead = sdk;
      const [ours, sdkText] = await Promise.all([registry.metrics(), sdk]);
      const body = sdkText ? `${ours.endsWith('\n') ? ours : `${ours}\n`}${sdkText}` : ours;
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    })().catch((err: unknown) => {
      options.logger?.error({ err }, 'metrics answer failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost}:${port}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The SDK exporter's text, with a trailing newline; throws when it does not answer 200 within a second. */
async function readSdkMetrics(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`the Temporal SDK metrics answered ${res.status}`);
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}
