/**
 * Which charts the dashboard draws. A run says which (run.json metric_groups, chosen by its
 * algorithm, with reference lines such as −1/N): the editor keeps no list of its own, so a new
 * algorithm's charts need no change here. Metrics that no chart names (and every metric of a run
 * written before metric_groups existed) get a chart per prefix, under Other: nothing is hidden.
 */
import type { MetricGroup } from '../../contracts/run-directory';
import type { DashboardRun } from '../../contracts/webviews/dashboard';

export interface SeriesSpec {
  key: string;
  label: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  section: 'training' | 'evaluation' | 'performance' | 'system' | 'other';
  table: 'train' | 'eval';
  series: SeriesSpec[];
  /** a horizontal line per run, e.g. the log-quantile target −1/N */
  reference?: (run: DashboardRun) => { label: string; value: number } | null;
  /** smoothing applies (eval points are few and already averages) */
  smooth: boolean;
}

/** KL(π_BoN ‖ π_ref) ≤ log N − (N−1)/N (docs/algorithms.md): the budget Best-of-N itself spends. */
export const klBonBound = (n: number): number => Math.log(n) - (n - 1) / n;

const s = (key: string, label: string): SeriesSpec => ({ key, label });

const IGNORED_EVAL = new Set(['eval/kl/bon_bound']);

/** A chart from a run's metric group; each run draws the reference line its own group gives. */
function fromGroup(group: MetricGroup): ChartSpec {
  return {
    id: group.id, title: group.title, section: group.section, table: group.table, smooth: group.smooth,
    series: group.series.map((series) => s(series.key, series.label)),
    reference: (run) => run.metricGroups?.find((own) => own.id === group.id)?.reference ?? null,
  };
}

/** The charts for these runs: their groups in the first run's order (a chart per id), then a chart
 * for each metric nothing covers. */
export function chartSpecs(runs: readonly DashboardRun[], trainKeys: Iterable<string>, evalKeys: Iterable<string>): ChartSpec[] {
  const charts: ChartSpec[] = [];
  const ids = new Set<string>();
  for (const run of runs) {
    for (const chart of (run.metricGroups ?? []).map(fromGroup)) {
      if (ids.has(chart.id)) continue;
      ids.add(chart.id);
      charts.push(chart);
    }
  }
  const known = new Set(charts.flatMap((chart) => chart.series.map((series) => series.key)));
  return [...charts, ...otherCharts(trainKeys, evalKeys, known)];
}

/** Metrics the trainer wrote that no chart covers are charted under Other, one chart per prefix
 * (`my/a` and `my/b` together under `my`), so nothing is hidden. */
export function otherCharts(trainKeys: Iterable<string>, evalKeys: Iterable<string>,
  known: ReadonlySet<string> = new Set()): ChartSpec[] {
  const extra: ChartSpec[] = [];
  for (const [keys, table] of [[trainKeys, 'train'], [evalKeys, 'eval']] as const) {
    const groups = new Map<string, string[]>();
    for (const key of [...keys].sort()) {
      if (known.has(key) || IGNORED_EVAL.has(key)) continue;
      const cut = key.lastIndexOf('/');
      const prefix = cut > 0 ? key.slice(0, cut) : key;
      groups.set(prefix, [...(groups.get(prefix) ?? []), key]);
    }
    for (const [prefix, members] of groups) {
      extra.push({ id: `other:${table === 'eval' ? 'eval:' : ''}${prefix}`, title: prefix, section: 'other', table, smooth: table === 'train',
        series: members.map((key) => s(key, members.length > 1 ? key.slice(prefix.length + 1) : key)) });
    }
  }
  return extra;
}
