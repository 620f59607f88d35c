/**
 * The Sweep view's message contract: one panel shows one sweep folder (its sweep.json, the trainer's
 * analysis.json and the live state of its trials' runs). The host sends the whole sweep each time
 * something changes (a sweep has tens to hundreds of configurations: a snapshot is small).
 */
import { isObject, isStringArray, parseWith, type Parsed } from './guards';

/** One seed's run of a configuration. */
export interface SweepSeedRun {
  seed: number;
  /** the run folder (absolute) */
  dir: string;
  /** run.json's status as the run store reads it now (live), or analysis.json's; null before either */
  status: string | null;
  step: number | null;
  totalSteps: number | null;
  /** its last evaluation's numbers (eval/reward/policy, eval/kl/policy_ref, …); null before the first */
  evaluation: Record<string, number> | null;
}

/** One configuration (a trial and any that continued it). */
export interface SweepConfiguration {
  /** the number its run folders carry (t0003) */
  number: number;
  state: string;
  /** swept field → its value as JSON text (0.01, "jbond") */
  params: Record<string, string>;
  /** the objectives' values as Optuna was told them (means over the seeds); null until complete */
  values: (number | null)[] | null;
  feasible: boolean | null;
  seeds: SweepSeedRun[];
  error: string | null;
}

export interface SweepObjective { metric: string; goal: 'maximize' | 'minimize' }

export interface SweepView {
  folder: string;
  name: string;
  /** sweep.json status (running, completed, stopped, or what a newer trainer writes) */
  status: string;
  /** the sweep's process is alive: Stop applies, Resume does not */
  active: boolean;
  method: string;
  objectives: SweepObjective[];
  parameters: string[];
  seeds: number[];
  maxTrials: number | null;
  trials: SweepConfiguration[];
  /** Optuna's best trials (the Pareto front of several objectives), as configuration numbers */
  paretoFront: number[];
  best: { metric: string; goal: string; trial: number }[];
  /** per objective metric, each field's importance; null when there is none yet */
  importance: Record<string, Record<string, number>> | null;
  importanceNote: string;
  /** when analysis.json was last written (ms since the epoch); null when it is missing */
  analysedAt: number | null;
  /** what the lenient reader skipped or could not read, said to the user */
  notes: string[];
}

export type HostToSweep = { type: 'snapshot'; seq: number; sweep: SweepView };

export type SweepCommand = 'stop' | 'resume' | 'revealFolder';
export const SWEEP_COMMANDS: readonly SweepCommand[] = ['stop', 'resume', 'revealFolder'];

export type SweepToHost =
  | { type: 'ready' }
  | { type: 'requestSnapshot'; reason: string }
  | { type: 'command'; command: SweepCommand }
  /** open the dashboard of these runs (a configuration's seeds: compare them) */
  | { type: 'openRuns'; dirs: string[] }
  /** open one run's samples */
  | { type: 'openSamples'; dir: string }
  /** queue more configurations: the sweep is started again with max_trials raised by count */
  | { type: 'addTrials'; count: number };

/** What the webview keeps with setState. */
export interface SweepState {
  folder: string;
  xMetric: string;
  yMetric: string;
  /** error bars: the standard deviation over the seeds, or a 95% confidence interval of the mean */
  errorBars: 'std' | 'ci95';
  /** the plot's x axis on a log scale */
  logX: boolean;
  sort: { column: string; descending: boolean };
}

const MAX_DIRS = 64;

export function parseSweepMessage(value: unknown): Parsed<SweepToHost> {
  return parseWith<SweepToHost>(value, {
    ready: () => ({ type: 'ready' }),
    requestSnapshot: (m) => ({ type: 'requestSnapshot', reason: typeof m.reason === 'string' ? m.reason.slice(0, 200) : '' }),
    command: (m) => (SWEEP_COMMANDS.includes(m.command as SweepCommand)
      ? { type: 'command', command: m.command as SweepCommand } : `command must be one of ${SWEEP_COMMANDS.join(', ')}`),
    openRuns: (m) => (isStringArray(m.dirs, MAX_DIRS) && m.dirs.length > 0 && m.dirs.every((d) => d.length > 0)
      ? { type: 'openRuns', dirs: m.dirs } : `dirs must be 1 to ${MAX_DIRS} run folders`),
    openSamples: (m) => (typeof m.dir === 'string' && m.dir ? { type: 'openSamples', dir: m.dir } : 'dir must be the run folder'),
    addTrials: (m) => (Number.isInteger(m.count) && (m.count as number) >= 1 && (m.count as number) <= 1000
      ? { type: 'addTrials', count: m.count as number } : 'count must be a whole number from 1 to 1000'),
  }, 'sweep');
}

export function parseSweepState(value: unknown): SweepState | undefined {
  if (!isObject(value) || typeof value.folder !== 'string' || !value.folder) return undefined;
  const sort = isObject(value.sort) && typeof value.sort.column === 'string' ? { column: value.sort.column, descending: value.sort.descending === true }
    : { column: 'trial', descending: false };
  return {
    folder: value.folder,
    xMetric: typeof value.xMetric === 'string' ? value.xMetric : 'eval/kl/policy_ref',
    yMetric: typeof value.yMetric === 'string' ? value.yMetric : 'eval/reward/policy',
    errorBars: value.errorBars === 'ci95' ? 'ci95' : 'std',
    logX: value.logX === true,
    sort,
  };
}
