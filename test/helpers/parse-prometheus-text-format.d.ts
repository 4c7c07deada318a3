/** parse-prometheus-text-format has no types: it returns prom2json's shape (test/metrics.test.ts names it). */
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
