import { describe, expect, it } from '@jest/globals';
import {
  escapeLabelValue,
  histogramText,
  renderMetrics,
  type MetricsSnapshot,
} from '../../src/dashboard/metrics.js';
import { LATENCY_BUCKETS_MS, type LatencyHistogram } from '../../src/jobs/stats.js';

/** A histogram as readLatency returns it, from per-bucket (not cumulative) counts. */
function histogram(perBucket: Partial<Record<number | 'inf', number>>, sumMs: number): LatencyHistogram {
  let cumulative = 0;
  const buckets: Array<[number, number]> = LATENCY_BUCKETS_MS.map((bound) => {
    cumulative += perBucket[bound] ?? 0;
    return [bound, cumulative];
  });
  cumulative += perBucket.inf ?? 0;
  buckets.push([Infinity, cumulative]);
  return { buckets, count: cumulative, sumMs };
}

describe('histogramText', () => {
  it('writes cumulative buckets in seconds, +Inf, _sum and _count', () => {
    const text = histogramText('lat_seconds', 'Latency.', [
      { labels: { target: 'a' }, histogram: histogram({ 10: 1, 250: 2, 2500: 1, inf: 1 }, 400_123) },
    ]);
    const lines = text.trimEnd().split('\n');
    expect(lines.slice(0, 2)).toEqual(['# HELP lat_seconds Latency.', '# TYPE lat_seconds histogram']);
    expect(lines).toContain('lat_seconds_bucket{target="a",le="0.01"} 1');
    expect(lines).toContain('lat_seconds_bucket{target="a",le="0.025"} 1');
    expect(lines).toContain('lat_seconds_bucket{target="a",le="0.25"} 3');
    expect(lines).toContain('lat_seconds_bucket{target="a",le="2.5"} 4');
    expect(lines).toContain('lat_seconds_bucket{target="a",le="300"} 4');
    expect(lines.slice(-3)).toEqual([
      'lat_seconds_bucket{target="a",le="+Inf"} 5',
      'lat_seconds_sum{target="a"} 400.123',
      'lat_seconds_count{target="a"} 5',
    ]);
    expect(lines.filter((l) => l.includes('_bucket'))).toHaveLength(LATENCY_BUCKETS_MS.length + 1);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('keeps the series valid when a bucket runs ahead of the count', () => {
    const h = histogram({ 10: 3 }, 30);
    const text = histogramText('x', 'h', [{ labels: {}, histogram: { ...h, count: 2 } }]);
    expect(text).toContain('x_bucket{le="0.01"} 2\n');
    expect(text).toContain('x_bucket{le="+Inf"} 2\n');
    expect(text).toContain('x_count 2\n');
  });

  it('writes HELP and TYPE even with no series, and escapes label values', () => {
    expect(histogramText('x', 'a\\b\nc', [])).toBe('# HELP x a\\\\b\\nc\n# TYPE x histogram\n');
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });
});

describe('renderMetrics', () => {
  const snapshot: MetricsSnapshot = {
    stats: {
      total_tasks: 9,
      completed_tasks: 5,
      failed_tasks: 1,
      retry_tasks: 3,
      by_target: {
        a: { delivered: 4, superseded: 1, retried: 3, dead: 1, replayed: 0, trimmed: 2 },
        b: { delivered: 0, superseded: 0, retried: 0, dead: 0, replayed: 0, trimmed: 0 },
      },
    },
    latency: { a: histogram({ 100: 4 }, 200), b: histogram({}, 0) },
    queues: [
      {
        queue: 'deliver.a',
        counts: { waiting: 2, active: 1, delayed: 0, prioritized: 0, failed: 1, completed: 5 },
        oldestWaitingAgeMs: 1_500,
      },
      { queue: 'dead-letter', counts: { waiting: 1 } },
    ],
    status: { workers: 10, processes: 2 },
  };

  it('exposes every family with HELP and TYPE, from the snapshot alone', async () => {
    const text = await renderMetrics(snapshot);
    const lines = text.split('\n');
    for (const [name, type] of [
      ['user_sync_deliveries_total', 'counter'],
      ['user_sync_tasks_total', 'counter'],
      ['user_sync_queue_jobs', 'gauge'],
      ['user_sync_oldest_waiting_job_age_seconds', 'gauge'],
      ['user_sync_workers', 'gauge'],
      ['user_sync_worker_processes', 'gauge'],
      ['user_sync_delivery_latency_seconds', 'histogram'],
    ]) {
      expect(lines).toContain(`# TYPE ${name} ${type}`);
      expect(lines.some((l) => l.startsWith(`# HELP ${name} `))).toBe(true);
    }
    for (const line of [
      'user_sync_deliveries_total{target="a",outcome="delivered"} 4',
      'user_sync_deliveries_total{target="a",outcome="retried"} 3',
      'user_sync_deliveries_total{target="b",outcome="dead"} 0',
      'user_sync_tasks_total{state="published"} 9',
      'user_sync_tasks_total{state="retried"} 3',
      'user_sync_queue_jobs{queue="deliver.a",state="waiting"} 2',
      'user_sync_queue_jobs{queue="dead-letter",state="waiting"} 1',
      'user_sync_oldest_waiting_job_age_seconds{queue="deliver.a"} 1.5',
      'user_sync_workers 10',
      'user_sync_worker_processes 2',
      'user_sync_delivery_latency_seconds_bucket{target="a",le="0.1"} 4',
      'user_sync_delivery_latency_seconds_count{target="a"} 4',
      'user_sync_delivery_latency_seconds_sum{target="a"} 0.2',
      'user_sync_delivery_latency_seconds_count{target="b"} 0',
    ])
      expect(lines).toContain(line);
    expect(text).not.toContain('oldest_waiting_job_age_seconds{queue="dead-letter"}');
    // Each scrape starts from nothing: rendering twice gives the same figures, not doubled ones.
    expect(await renderMetrics(snapshot)).toBe(text);
  });
});
