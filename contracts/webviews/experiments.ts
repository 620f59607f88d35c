/**
 * The experiments table's message contract: every run of the runs folders (sweeps' trials included),
 * one row each. The host sends a snapshot, then rows that changed (a run's step, status, evaluation)
 * and rows removed; a snapshot again when the set of config fields that vary changes.
 */
import { isObject, isStringArray, parseWith, type Parsed } from './guards';

export interface ExperimentRow {
  /** the run folder: the row's identity */
  dir: string;
  label: string;
  status: string;
  algorithm: string;
  /** the sweep the run is a trial of (its name), or null */
  sweep: string | null;
  /** the trial and seed within its sweep */
  trial: number | null;
  seed: number | null;
  step: number;
  totalSteps: number;
  tags: string[];
  /** the config fields that vary across all runs (ExperimentsSnapshot.fields), as JSON text; a field the run lacks is absent */
  config: Record<string, string>;
  /** the last evaluation's headline numbers; null before the first */
  reward: number | null;
  kl: number | null;
  effectiveN: number | null;
  winRate: number | null;
  /** seconds from start to the last write (training time so far) */
  durationS: number | null;
  /** ms since the epoch */
  startedAt: number;
  /** what the lenient reader could not use in run.json, said on the row */
  problem: string | null;
}

export type HostToExperiments =
  | { type: 'snapshot'; seq: number; rows: ExperimentRow[]; fields: string[] }
  | { type: 'upsert'; seq: number; rows: ExperimentRow[] }
  | { type: 'remove'; seq: number; dirs: string[] };

export type ExperimentsToHost =
  | { type: 'ready' }
  | { type: 'requestSnapshot'; reason: string }
  | { type: 'openDashboard'; dir: string }
  /** compare these runs (their charts and Pareto view), in this order: the table's colours are theirs */
  | { type: 'compare'; dirs: string[] };

/** What the webview keeps with setState. */
export interface ExperimentsState {
  sort: { column: string; descending: boolean };
  filter: string;
  status: string;
  sweep: string;
  groupBySweep: boolean;
  /** columns switched off in the column chooser */
  hiddenColumns: string[];
}

const MAX_COMPARE = 32;

export function parseExperimentsMessage(value: unknown): Parsed<ExperimentsToHost> {
  return parseWith<ExperimentsToHost>(value, {
    ready: () => ({ type: 'ready' }),
    requestSnapshot: (m) => ({ type: 'requestSnapshot', reason: typeof m.reason === 'string' ? m.reason.slice(0, 200) : '' }),
    openDashboard: (m) => (typeof m.dir === 'string' && m.dir ? { type: 'openDashboard', dir: m.dir } : 'dir must be the run folder'),
    compare: (m) => (isStringArray(m.dirs, MAX_COMPARE) && m.dirs.length >= 2 && m.dirs.every((d) => d.length > 0)
      ? { type: 'compare', dirs: m.dirs } : `dirs must be 2 to ${MAX_COMPARE} run folders`),
  }, 'experiments');
}

export function parseExperimentsState(value: unknown): ExperimentsState {
  const v = isObject(value) ? value : {};
  const sort = isObject(v.sort) && typeof v.sort.column === 'string' ? { column: v.sort.column, descending: v.sort.descending === true }
    : { column: 'startedAt', descending: true };
  return {
    sort,
    filter: typeof v.filter === 'string' ? v.filter.slice(0, 200) : '',
    status: typeof v.status === 'string' ? v.status : '',
    sweep: typeof v.sweep === 'string' ? v.sweep : '',
    groupBySweep: v.groupBySweep !== false,
    hiddenColumns: isStringArray(v.hiddenColumns, 1000) ? v.hiddenColumns : [],
  };
}
