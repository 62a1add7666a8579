import type { LatencyHistogram } from '../jobs/stats.js';

/** One labelled series of a histogram kept in ms. */
export interface HistogramSeries {
  labels: Record<string, string>;
  histogram: LatencyHistogram;
}

/** Escapes a label value for the Prometheus text format. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text for the Prometheus text format. */
export function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatNumber(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/**
 * The Prometheus text exposition of a histogram kept in Redis in milliseconds (see
 * `readLatency`), in seconds: HELP and TYPE, then per series its cumulative `_bucket` lines
 * (`le` in seconds, `+Inf` last), `_sum` and `_count`. prom-client's Histogram can only
 * observe values one by one, so this one is written out directly.
 *
 * `_count` and the `+Inf` bucket are the recorded count, and no bucket exceeds it, so that the
 * series stays valid even if a bucket and the count were read a moment apart.
 */
export function histogramText(name: string, help: string, series: readonly HistogramSeries[]): string {
  const lines = [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} histogram`];
  for (const { labels, histogram } of series) {
    const count = histogram.count;
    for (const [boundMs, cumulative] of histogram.buckets) {
      if (boundMs === Infinity) continue;
      const le = formatNumber(boundMs / 1000);
      lines.push(`${name}_bucket${formatLabels({ ...labels, le })} ${Math.min(cumulative, count)}`);
    }
    lines.push(`${name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${count}`);
    lines.push(`${name}_sum${formatLabels(labels)} ${formatNumber(histogram.sumMs / 1000)}`);
    lines.push(`${name}_count${formatLabels(labels)} ${count}`);
  }
  return lines.join('\n') + '\n';
}
