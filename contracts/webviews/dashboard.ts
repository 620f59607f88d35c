/**
 * The dashboard webview's message contract (one panel shows one run, or several in compare mode).
 * Host → webview messages carry a sequence number; see SequenceTracker in ./guards.
 */
import type { Algorithm, MetricGroup, MetricRecord } from '../run-directory';
import { isFiniteNumber, isObject, isStringArray, parseWith, type Parsed } from './guards';

/** The header of one run, as the dashboard shows it. Names come from user configs: text only. */
export interface DashboardRun {
  /** the run folder: the run's identity */
  dir: string;
  /** the run's label: the user's, or run.json's name, with what tells it from runs of the same name */
  name: string;
  /** the user's note and tags on the run (bond-studio.json) */
  note: string | null;
  tags: string[];
  algorithm: Algorithm;
  /** run.json status, or 'lost' when the trainer died without saying so */
  status: string;
  step: number;
  totalSteps: number;
  device: string;
  precision: string | null;
  /** the policy as the trainer describes it (name, size, full or LoRA); null for older runs */
  model: string | null;
  /** processes training together (torchrun); 1 for a plain run */
  worldSize: number;
  /** seconds, from the recent step rate; null when unknown or not running */
  etaSeconds: number | null;
  /** the N of the Best-of-N the training step distils (run.json distilled_n); null when none */
  trainN: number | null;
  /** the Best-of-N the evaluation compares against (eval.bon_n): KL bound log N − (N−1)/N */
  bonN: number;
  /** a handful of config fields worth seeing at a glance */
  configSummary: { label: string; value: string }[];
  /** the charts the algorithm chose (run.json metric_groups); null for older runs: built-in charts */
  metricGroups: MetricGroup[] | null;
  /** the resolved config flattened to dotted fields (bond.ema_eta) and their JSON values: Compare Runs
   * shows the fields that differ */
  config: Record<string, string>;
  /** a finished run's headline numbers (run.json summary): shown in the header */
  summary: { label: string; value: string }[];
  /** where a resume changed the config (run.json segments after the first): the step, and what changed */
  configChanges: { step: number; changes: string[] }[];
  error: string | null;
  /** what the editor's lenient reader had to say about run.json (unknown status or fields, unusable ones) */
  notes: string[];
  canStop: boolean;
  canResume: boolean;
}

/** Lines of a run's file the editor could not use: how many, the first one's number and why. */
export interface SkippedLines {
  dir: string;
  /** the file's name in the run folder, e.g. metrics.jsonl */
  file: string;
  count: number;
  firstLine: number;
  reason: string;
}

/**
 * One run's metric lines in a snapshot. A long history comes reduced (more `lines` than records):
 * per kind, runs of consecutive lines kept as their first and last line and the lines holding each
 * metric's extremes, so every spike is still drawn; the view says so.
 */
export interface SnapshotMetrics {
  dir: string;
  records: MetricRecord[];
  /** lines in the run's history (absent: the records are all of it) */
  lines?: number;
}

export type HostToDashboard =
  /** everything: the runs and every metric line read so far; replaces what the view holds */
  | { type: 'snapshot'; seq: number; runs: DashboardRun[]; metrics: SnapshotMetrics[] }
  /** new metric lines of one run, in file order */
  | { type: 'append'; seq: number; dir: string; records: MetricRecord[] }
  /** headers changed (status, step, ETA) */
  | { type: 'runs'; seq: number; runs: DashboardRun[] }
  /** the lines skipped so far, per run (empty: none); replaces the previous report */
  | { type: 'skipped'; seq: number; skipped: SkippedLines[] }
  /** the step a samples view of this run shows (null: none, or all steps): every chart marks it */
  | { type: 'marker'; seq: number; dir: string; step: number | null };

export type DashboardCommand = 'stop' | 'resume' | 'openSamples' | 'revealFolder';
export const DASHBOARD_COMMANDS: readonly DashboardCommand[] = ['stop', 'resume', 'openSamples', 'revealFolder'];

export type DashboardToHost =
  | { type: 'ready' }
  | { type: 'requestSnapshot'; reason: string }
  | { type: 'command'; command: DashboardCommand; dir: string }
  /** open a run's metrics file in an editor at a line (the first skipped one) */
  | { type: 'openMetricsFile'; dir: string; line: number }
  /** a chart point or Pareto point was clicked: open the run's samples beside, at the snapshot nearest this step */
  | { type: 'openSamplesAt'; dir: string; step: number }
  | { type: 'exportCsv'; fileName: string; content: string }
  | { type: 'exportPng'; fileName: string; dataUrl: string };

export type XAxis = 'step' | 'time';

/** What the webview keeps with setState, and what the panel serializer revives. */
export interface DashboardState {
  dirs: string[];
  xAxis: XAxis;
  /** EMA weight in [0, 1): 0 shows the raw line */
  smoothing: number;
  /** legend entries switched off, as "chart/series" keys */
  hidden: string[];
  /** the background of exported pictures: light (for papers), or the editor theme's */
  exportBackground: 'light' | 'theme';
  /** y ranges from the bulk of the values (2nd–98th percentile), not from spikes */
  ignoreOutliers: boolean;
  /** charts (by id) drawn with a logarithmic y axis, where their values allow it (all > 0) */
  logCharts: string[];
}

export const MAX_EXPORT_CHARS = 64 * 1024 * 1024;
const MAX_RUNS = 32;

const fileName = (value: unknown, ext: string): string | undefined =>
  typeof value === 'string' && /^[\w.-]{1,120}$/.test(value) && value.endsWith(ext) ? value : undefined;

export function parseDashboardMessage(value: unknown): Parsed<DashboardToHost> {
  return parseWith<DashboardToHost>(value, {
    ready: () => ({ type: 'ready' }),
    requestSnapshot: (m) => ({ type: 'requestSnapshot', reason: typeof m.reason === 'string' ? m.reason.slice(0, 200) : '' }),
    command: (m) => {
      if (!DASHBOARD_COMMANDS.includes(m.command as DashboardCommand)) return `command must be one of ${DASHBOARD_COMMANDS.join(', ')}`;
      if (typeof m.dir !== 'string' || !m.dir) return 'dir must be the run folder';
      return { type: 'command', command: m.command as DashboardCommand, dir: m.dir };
    },
    openMetricsFile: (m) => {
      if (typeof m.dir !== 'string' || !m.dir) return 'dir must be the run folder';
      if (typeof m.line !== 'number' || !Number.isInteger(m.line) || m.line < 1) return 'line must be a whole number ≥ 1';
      return { type: 'openMetricsFile', dir: m.dir, line: m.line };
    },
    openSamplesAt: (m) => {
      if (typeof m.dir !== 'string' || !m.dir) return 'dir must be the run folder';
      if (typeof m.step !== 'number' || !Number.isInteger(m.step) || m.step < 0) return 'step must be a whole number ≥ 0';
      return { type: 'openSamplesAt', dir: m.dir, step: m.step };
    },
    exportCsv: (m) => {
      const name = fileName(m.fileName, '.csv');
      if (!name) return 'fileName must be a plain name ending in .csv';
      if (typeof m.content !== 'string' || m.content.length > MAX_EXPORT_CHARS) return 'content must be text under 64 MB';
      return { type: 'exportCsv', fileName: name, content: m.content };
    },
    exportPng: (m) => {
      const name = fileName(m.fileName, '.png');
      if (!name) return 'fileName must be a plain name ending in .png';
      if (typeof m.dataUrl !== 'string' || !m.dataUrl.startsWith('data:image/png;base64,') || m.dataUrl.length > MAX_EXPORT_CHARS) {
        return 'dataUrl must be a data:image/png;base64 URL under 64 MB';
      }
      return { type: 'exportPng', fileName: name, dataUrl: m.dataUrl };
    },
  }, 'dashboard');
}

export function parseDashboardState(value: unknown): DashboardState | undefined {
  if (!isObject(value) || !isStringArray(value.dirs, MAX_RUNS) || value.dirs.length === 0) return undefined;
  const smoothing = isFiniteNumber(value.smoothing) && value.smoothing >= 0 && value.smoothing < 1 ? value.smoothing : 0.6;
  return {
    dirs: value.dirs,
    xAxis: value.xAxis === 'time' ? 'time' : 'step',
    smoothing,
    hidden: isStringArray(value.hidden, 1000) ? value.hidden : [],
    exportBackground: value.exportBackground === 'theme' ? 'theme' : 'light',
    ignoreOutliers: value.ignoreOutliers === true,
    logCharts: isStringArray(value.logCharts, 1000) ? value.logCharts : [],
  };
}
