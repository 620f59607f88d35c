/**
 * The run directory as TypeScript types: the one contract between the trainer (which writes it)
 * and the extension and webviews (which read it). The JSON Schemas in ./schemas are the source of
 * truth; these types mirror them, and test/contracts checks the shared fixtures against both.
 */

export const RUN_FORMAT_VERSION = 1;

export type Algorithm = 'bond' | 'jbond' | 'reinforce';
export type RunStatus = 'starting' | 'running' | 'completed' | 'stopped' | 'failed';
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'stopped', 'failed'];

export interface RunError {
  message: string;
  /** config, data, reward, numeric or internal */
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

/** run.json, rewritten atomically by the trainer. Times are Unix seconds. */
export interface RunMeta {
  format_version: typeof RUN_FORMAT_VERSION;
  run_id: string;
  name: string;
  algorithm: Algorithm;
  status: RunStatus;
  /** the resolved config (every default filled in) */
  config: Record<string, unknown>;
  config_path: string | null;
  pid: number;
  host: string;
  device: string;
  precision?: 'fp32' | 'bf16';
  /** the models, described by the trainer: the policy (name, size, full fine-tuning or LoRA), then the reward */
  model?: string;
  /** processes training together under torchrun; 1 for a plain run */
  world_size?: number;
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

/** Metric names the trainer writes on every train line (metrics.schema.json `then.required`). */
export const REQUIRED_TRAIN_METRICS = [
  'loss/total', 'loss/forward', 'loss/backward', 'loss/regulariser', 'reward/policy',
  'kl/policy_ref', 'kl/policy_anchor', 'entropy', 'grad_norm', 'lr',
  'perf/samples_per_s', 'perf/tokens_per_s', 'time/sample_s', 'time/score_s', 'time/update_s',
] as const;
