/**
 * Rounds, medians and results: each benchmark runs user-sync and its baseline in alternating
 * order for a few rounds (ABBAAB…, so drift on a noisy machine falls on both), takes the median
 * of each, and states the ratio against its goal, met or not.
 */
export interface BenchResult {
  name: string;
  /** user-sync's figure (median of the rounds). */
  project: number;
  /** The baseline's, measured in the same run. */
  baseline: number;
  unit: string;
  /** project / baseline. */
  ratio: number;
  /** The goal, or null for a figure reported without one. */
  goal: number | null;
  /** What the goal bounds: the ratio from below (≥), or user-sync's own figure from above (≤). */
  goalOn: 'ratio' | 'project' | null;
  ok: boolean | null;
  rounds: number;
  /** Every round's figure, to show the spread. */
  runs: { project: number[]; baseline: number[] };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The p-th percentile (nearest rank) of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/**
 * Runs `project` and `baseline` `rounds` times each, alternating which goes first, and returns
 * every round's measurement of each.
 */
export async function interleaved<T>(
  rounds: number,
  project: () => Promise<T>,
  baseline: () => Promise<T>,
): Promise<{ project: T[]; baseline: T[] }> {
  const out = { project: [] as T[], baseline: [] as T[] };
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      out.project.push(await project());
      out.baseline.push(await baseline());
    } else {
      out.baseline.push(await baseline());
      out.project.push(await project());
    }
  }
  return out;
}

/** A figure as the reports print it: thousands grouped, 2 or 1 decimals below 10 or 100, `-` for none. */
export const fmt = (value: number) =>
  !Number.isFinite(value)
    ? '-'
    : Math.abs(value) >= 100
      ? Math.round(value).toLocaleString('en-US')
      : value.toFixed(Math.abs(value) >= 10 ? 1 : 2);

/**
 * A result from every round's figure of each side. `goal`: `{ ratio: g }` for "user-sync at
 * least g× the baseline", `{ max: m }` for "user-sync's figure at most m", or none.
 */
export function result(
  name: string,
  unit: string,
  runs: { project: number[]; baseline: number[] },
  goal: { ratio?: number; max?: number } = {},
): BenchResult {
  const project = median(runs.project);
  const baseline = median(runs.baseline);
  const ratio = project / baseline;
  const goalOn = goal.ratio !== undefined ? 'ratio' : goal.max !== undefined ? 'project' : null;
  const target = goal.ratio ?? goal.max ?? null;
  const ok =
    goalOn === 'ratio'
      ? ratio >= (target as number)
      : goalOn === 'project'
        ? project <= (target as number)
        : null;
  const r: BenchResult = {
    name,
    project,
    baseline,
    unit,
    ratio,
    goal: target,
    goalOn,
    ok,
    rounds: runs.project.length,
    runs,
  };
  report(r);
  return r;
}

/** One line per result, as soon as it is known. */
function report(r: BenchResult): void {
  const goal =
    r.goalOn === 'ratio'
      ? `goal ≥ ${r.goal}× ${r.ok ? 'met' : 'NOT MET'}`
      : r.goalOn === 'project'
        ? `goal ≤ ${r.goal} ${r.unit} ${r.ok ? 'met' : 'NOT MET'}`
        : 'no goal';
  console.log(
    `  ${r.name}: user-sync ${fmt(r.project)} ${r.unit}, baseline ${fmt(r.baseline)} ${r.unit}, ` +
      `ratio ${fmt(r.ratio)} (${goal}; median of ${r.rounds}: ` +
      `[${r.runs.project.map(fmt).join(', ')}] vs [${r.runs.baseline.map(fmt).join(', ')}])`,
  );
}

/** The results as a markdown table (docs/performance.md). */
export function markdownTable(results: readonly BenchResult[]): string {
  const lines = [
    '| benchmark | user-sync | baseline | unit | ratio | goal | met |',
    '|---|---:|---:|---|---:|---|---|',
  ];
  for (const r of results) {
    const goal =
      r.goalOn === 'ratio' ? `≥ ${r.goal}×` : r.goalOn === 'project' ? `≤ ${r.goal} ${r.unit}` : '–';
    const ok = r.ok === null ? '–' : r.ok ? 'yes' : '**no**';
    lines.push(
      `| ${r.name} | ${fmt(r.project)} | ${fmt(r.baseline)} | ${r.unit} | ${fmt(r.ratio)} | ${goal} | ${ok} |`,
    );
  }
  return lines.join('\n');
}

/** The one JSON line a run ends with. */
export function summaryLine(suite: string, quick: boolean, results: readonly BenchResult[]): string {
  const round = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : null);
  return JSON.stringify({
    suite,
    quick,
    results: results.map((r) => ({
      name: r.name,
      project: round(r.project),
      baseline: round(r.baseline),
      unit: r.unit,
      ratio: round(r.ratio),
      goal: r.goal,
      goalOn: r.goalOn,
      ok: r.ok,
    })),
  });
}
