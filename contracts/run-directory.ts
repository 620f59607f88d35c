/**
 * The run directory as TypeScript types: the one contract between the trainer (which writes it)
 * and the extension and webviews (which read it). The JSON Schemas in ./schemas are the source of
 * truth; these types mirror them, and test/contracts checks the shared fixtures against both.
 */

import runFolder from './schemas/run-folder.schema.json';

export const RUN_FORMAT_VERSION = 1;

/** The names of a run's files and folders (schemas/run-folder.schema.json; the trainer reads the same). */
export const RUN_FOLDER = {
  run: runFolder['x-layout'].run.path,
  annotations: runFolder['x-layout'].annotations.path,
  lock: runFolder['x-layout'].lock.path,
  metrics: runFolder['x-layout'].metrics.path,
  samples: runFolder['x-layout'].samples.path,
  log: runFolder['x-layout'].log.path,
  checkpoints: runFolder['x-layout'].checkpoints.path,
  checkpointManifest: runFolder['x-layout'].checkpoint_manifest.path,
  exports: runFolder['x-layout'].exports.path,
  exportErrors: runFolder['x-layout'].export_errors.path,
  rankErrors: runFolder['x-layout'].rank_errors.path,
} as const;

/** The algorithm's name, as the trainer writes it (bond, jbond, reinforce, or a newer one): shown,
 * never branched on; what differs between algorithms comes in run.json (distilled_n, metric_groups). */
export type Algorithm = string;
export type RunStatus = 'starting' | 'running' | 'completed' | 'stopped' | 'failed' | 'pruned';
/** pruned: a sweep's pruner stopped the run (with a checkpoint; it can be resumed like a stopped one) */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'stopped', 'failed', 'pruned'];

/** Resume continues these from their last checkpoint (lost: the editor's word for a run whose trainer died;
 * a completed run is trained further instead). */
export function canResume(status: string): boolean {
  return status === 'stopped' || status === 'failed' || status === 'lost' || status === 'pruned';
}
/** The statuses this version knows; a newer trainer may write others, which the editor shows as they are. */
export const KNOWN_STATUSES: readonly RunStatus[] = ['starting', 'running', ...TERMINAL_STATUSES];
/** A status read from run.json: one this version knows, or another shown as text (`string & {}` keeps the known ones' completion). */
export type ReadStatus = RunStatus | (string & {});

export interface RunError {
  message: string;
  /** the trainer's: config, data, reward, numeric, internal; the extension's: killed */
  type: string;
  step?: number | null;
  traceback?: string | null;
  /** under torchrun: the rank whose failure ended the run */
  rank?: number | null;
}

export interface RunSummary {
  step: number;
  reward_ref: number;
  reward_bon: number;
  reward_policy: number;
  bon_n: number;
  kl_policy_ref: number;
  /** log N − (N−1)/N for N = bon_n */
  kl_bon_bound: number;
  effective_n: number;
  win_rate_vs_bon: number;
}

export interface CheckpointEntry {
  step: number;
  /** relative to the run folder */
  path: string;
}

/** One dashboard chart, as the algorithm chose it (run.schema.json #/definitions/metricGroup). */
export interface MetricGroup {
  id: string;
  title: string;
  section: 'training' | 'evaluation' | 'performance' | 'system';
  /** which lines of metrics.jsonl hold the series */
  table: 'train' | 'eval';
  /** `every`: a metric with a pass of its own, on the first and every N-th train line only */
  series: { key: string; label: string; every?: number }[];
  smooth: boolean;
  /** a horizontal line, e.g. the log-quantile target −1/N */
  reference?: { label: string; value: number };
}

/** Every file or model the run reads, resolved by the trainer (the extension never re-resolves). */
export interface RunPaths {
  reference: { kind: 'hf' | 'byte-gpt' | 'random'; location: string | null; chat_template: boolean };
  reward_model: string | null;
  reward_function: string | null;
  data: { train: string[]; eval: string[] };
}

/** run.json, rewritten atomically by the trainer. Times are Unix seconds. */
/** A config field that differs between two segments (null: absent). */
export interface ConfigChange {
  field: string;
  before: unknown;
  after: unknown;
}

/** One stretch of a run trained with one config: from start_step until the next segment. */
export interface ConfigSegment {
  start_step: number;
  started_at: number;
  config: Record<string, unknown>;
  /** what differs from the segment before; empty for the first */
  changes: ConfigChange[];
}

/** A run's segments; an older run.json without them is one segment holding its config. */
export function segmentsOf(meta: Pick<RunMeta, 'segments' | 'config' | 'created_at'>): ConfigSegment[] {
  return meta.segments?.length ? meta.segments : [{ start_step: 0, started_at: meta.created_at, config: meta.config, changes: [] }];
}

/** 'bond.beta 0.3 → 0.9' */
export function describeChange(change: ConfigChange): string {
  return `${change.field} ${JSON.stringify(change.before)} → ${JSON.stringify(change.after)}`;
}

export interface RunMeta {
  /** the trainer writes RUN_FORMAT_VERSION; the editor reads a newer one as far as it can, with a note */
  format_version: number;
  run_id: string;
  name: string;
  algorithm: Algorithm;
  /** the trainer writes a RunStatus; the editor reads any text (a newer trainer's status) */
  status: ReadStatus;
  /** the resolved config now in force (every default filled in): the last segment's */
  config: Record<string, unknown>;
  config_path: string | null;
  /** the config history, oldest first; absent in older runs (then one segment: config) */
  segments?: ConfigSegment[];
  pid: number;
  host: string;
  device: string;
  precision?: 'fp32' | 'bf16';
  /** the models, described by the trainer: the policy (name, size, full fine-tuning or LoRA), then the reward */
  model?: string;
  /** processes training together under torchrun; 1 for a plain run */
  world_size?: number;
  /** the N of the Best-of-N a training step distils; null when none (REINFORCE); absent in older runs */
  distilled_n?: number | null;
  /** config fields worth seeing at a glance, chosen by the algorithm; absent in older runs */
  config_summary?: { label: string; value: string }[];
  /** the dashboard's charts for this run; absent in older runs (the dashboard then uses its own) */
  metric_groups?: MetricGroup[];
  /** resolved by the trainer; absent in older runs */
  paths?: RunPaths;
  created_at: number;
  updated_at: number;
  heartbeat_at: number;
  started_at: number | null;
  /** the step this trainer process started from (0, or the resumed checkpoint's) */
  started_step: number;
  ended_at: number | null;
  step: number;
  total_steps: number;
  resume_count: number;
  error: RunError | null;
  summary: RunSummary | null;
  checkpoints: CheckpointEntry[];
  trainer_version: string;
  torch_version: string;
  /** the sweep trial this run is one seed of (run.schema.json's sweep); absent outside sweeps */
  sweep?: SweepTrial | null;
  /** why a sweep's pruner ended the run (status pruned) */
  pruned?: { reason: string; step: number } | null;
}

export interface SweepTrial {
  /** the sweep's (and its Optuna study's) name */
  name: string;
  /** the sweep folder, holding sweep.json */
  folder?: string;
  trial: number;
  parameters: Record<string, unknown>;
  seed: number;
}

/** A line of metrics.jsonl. Metric names are stable keys such as "loss/total" or "eval/effective_n". */
export interface MetricRecord {
  kind: 'train' | 'eval';
  step: number;
  time: number;
  /** eval lines only: mean reward of Best-of-N of π_ref for N = 1..n_max */
  bon_curve?: number[];
  [metric: string]: number | string | number[] | undefined;
}

export interface ScoredText {
  text: string;
  reward: number;
  log_quantile: number;
  logp_policy: number;
  logp_anchor: number;
  logp_ref: number;
  truncated?: boolean;
}

export interface BestOfN {
  n: number;
  winner: number;
  best: ScoredText;
  candidates: { text: string; reward: number }[];
}

/** A line of samples.jsonl: one prompt of one snapshot. Texts are untrusted model output. */
export interface SampleRecord {
  step: number;
  time: number;
  prompt_id: number;
  prompt: string;
  policy: ScoredText[];
  anchor: ScoredText[];
  bon: BestOfN;
}

/** Metric names every train line of a run carries: the series of the train charts its run.json
 * declares (metrics.schema.json), which the algorithm chooses, but those declared with `every` (on
 * every N-th line only). Older runs without metric_groups: none. */
export function declaredTrainMetrics(meta: Pick<RunMeta, 'metric_groups'>): string[] {
  return [...new Set((meta.metric_groups ?? []).filter((g) => g.table === 'train')
    .flatMap((g) => g.series.filter((s) => s.every === undefined).map((s) => s.key)))];
}
