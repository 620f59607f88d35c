/**
 * Which charts the dashboard draws. A run says which (run.json metric_groups, chosen by its
 * algorithm, with reference lines such as −1/N); runs written before that get the built-in set.
 * Metrics that no chart names get a chart each, under Other.
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

/** The built-in charts, for runs whose run.json has no metric_groups. */
export const CHARTS: readonly ChartSpec[] = [
  { id: 'loss', title: 'Loss', section: 'training', table: 'train', smooth: true,
    series: [s('loss/total', 'total'), s('loss/forward', 'forward'), s('loss/backward', 'backward'), s('loss/regulariser', 'regulariser')] },
  { id: 'reward', title: 'Reward', section: 'training', table: 'train', smooth: true,
    series: [s('reward/policy', 'policy'), s('reward/anchor', 'anchor'), s('reward/bon', 'Best-of-N')] },
  { id: 'quantile', title: 'Log-quantile of policy samples', section: 'training', table: 'train', smooth: true,
    series: [s('quantile/log_policy', 'log p̂≤ (policy)')],
    reference: (run) => (run.trainN ? { label: `target −1/N (N=${run.trainN})`, value: -1 / run.trainN } : null) },
  { id: 'kl_ref', title: 'KL(π ‖ π_ref)', section: 'training', table: 'train', smooth: true,
    series: [s('kl/policy_ref', 'KL to reference')],
    reference: (run) => ({ label: `BoN bound log N − (N−1)/N (N=${run.bonN})`, value: klBonBound(run.bonN) }) },
  { id: 'kl_anchor', title: 'KL(π ‖ anchor)', section: 'training', table: 'train', smooth: true,
    series: [s('kl/policy_anchor', 'KL to anchor')] },
  { id: 'entropy', title: 'Entropy (nats/token)', section: 'training', table: 'train', smooth: true, series: [s('entropy', 'entropy')] },
  { id: 'grad_norm', title: 'Gradient norm', section: 'training', table: 'train', smooth: true, series: [s('grad_norm', 'grad norm')] },
  { id: 'lr', title: 'Learning rate', section: 'training', table: 'train', smooth: false, series: [s('lr', 'lr')] },
  { id: 'eval_reward', title: 'Eval reward (held-out prompts)', section: 'evaluation', table: 'eval', smooth: false,
    series: [s('eval/reward/policy', 'policy'), s('eval/reward/anchor', 'anchor'), s('eval/reward/bon', 'Best-of-N'), s('eval/reward/ref', 'reference')] },
  { id: 'eval_effective_n', title: 'Effective N', section: 'evaluation', table: 'eval', smooth: false,
    series: [s('eval/effective_n', 'effective N')],
    reference: (run) => ({ label: `N = ${run.bonN}`, value: run.bonN }) },
  { id: 'eval_win_rate', title: 'Win rate vs Best-of-N', section: 'evaluation', table: 'eval', smooth: false,
    series: [s('eval/win_rate_vs_bon', 'win rate')], reference: () => ({ label: 'parity 0.5', value: 0.5 }) },
  { id: 'eval_kl', title: 'Eval KL(π ‖ π_ref)', section: 'evaluation', table: 'eval', smooth: false,
    series: [s('eval/kl/policy_ref', 'KL to reference'), s('eval/kl/policy_anchor', 'KL to anchor')],
    reference: (run) => ({ label: `BoN bound (N=${run.bonN})`, value: klBonBound(run.bonN) }) },
  { id: 'throughput', title: 'Throughput (samples/s)', section: 'performance', table: 'train', smooth: true,
    series: [s('perf/samples_per_s', 'samples/s')] },
  { id: 'tokens', title: 'Throughput (tokens/s)', section: 'performance', table: 'train', smooth: true,
    series: [s('perf/tokens_per_s', 'tokens/s')] },
  { id: 'step_time', title: 'Time per step phase (s)', section: 'performance', table: 'train', smooth: true,
    series: [s('time/sample_s', 'sample'), s('time/score_s', 'score'), s('time/update_s', 'update')] },
];

const IGNORED_EVAL = new Set(['eval/kl/bon_bound']);

/** A chart from a run's metric group; each run draws the reference line its own group gives. */
function fromGroup(group: MetricGroup): ChartSpec {
  return {
    id: group.id, title: group.title, section: group.section, table: group.table, smooth: group.smooth,
    series: group.series.map((series) => s(series.key, series.label)),
    reference: (run) => run.metricGroups?.find((own) => own.id === group.id)?.reference ?? null,
  };
}

/** The charts for these runs: their groups in the first run's order (a chart per id), the built-in
 * set when a run has none, then a chart for each metric nothing covers. */
export function chartSpecs(runs: readonly DashboardRun[], trainKeys: Iterable<string>, evalKeys: Iterable<string>): ChartSpec[] {
  const charts: ChartSpec[] = [];
  const ids = new Set<string>();
  for (const run of runs) {
    for (const chart of run.metricGroups ? run.metricGroups.map(fromGroup) : CHARTS) {
      if (ids.has(chart.id)) continue;
      ids.add(chart.id);
      charts.push(chart);
    }
  }
  if (charts.length === 0) charts.push(...CHARTS);
  const known = new Set(charts.flatMap((chart) => chart.series.map((series) => series.key)));
  return [...charts, ...otherCharts(trainKeys, evalKeys, known)];
}

/** Metrics the trainer wrote that no chart covers are charted under Other, one chart per prefix
 * (`my/a` and `my/b` together under `my`), so nothing is hidden. */
export function otherCharts(trainKeys: Iterable<string>, evalKeys: Iterable<string>,
  known: ReadonlySet<string> = new Set(CHARTS.flatMap((chart) => chart.series.map((series) => series.key)))): ChartSpec[] {
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
