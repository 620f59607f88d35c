/**
 * The playground editor tab's message contract: try a prompt on a run's exported policy and anchor,
 * with Best-of-N of the anchor, every candidate scored; a history of tries re-runnable at another step.
 */
import { isFiniteNumber, isNonNegativeInteger, isObject, parseWith, type Parsed } from './guards';

/** A run the playground can use: its exported steps (newest first). */
export interface PlaygroundRun {
  dir: string;
  name: string;
  steps: number[];
  /** checkpoints exist: the panel offers to export them */
  canExport: boolean;
  /** checkpoint steps not exported yet (newest first): each can be exported to try prompts at that step */
  checkpointSteps: number[];
  /** why rewards cannot be shown for this run (e.g. a Python reward), or null */
  rewardNote: string | null;
  /** why the latest exported step is missing models (torch.onnx could not export them), or null */
  exportNote: string | null;
  /** the ONNX reward model used instead of the run's reward (file name), or null */
  rewardModel: string | null;
  /** the run's status (the playground defaults to the newest completed run) */
  status: string;
  /** the Best-of-N the run was evaluated against (eval.bon_n): the form's N defaults to it */
  bonN: number;
}

export interface PlaygroundText {
  text: string;
  /** null when the run's reward cannot be computed here */
  reward: number | null;
  truncated: boolean;
}

export interface PlaygroundResult {
  /** the request this answers, so a try can be run again (at another step) */
  request: PlaygroundRequest;
  runName: string;
  step: number;
  prompt: string;
  policy: PlaygroundText[];
  anchor: PlaygroundText[];
  candidates: PlaygroundText[];
  /** π_ref's samples (the model training started from), or null when the step has no export of it */
  reference: PlaygroundText[] | null;
  /** why there is no reference column, or that the anchor is π_ref; null when there is nothing to say */
  referenceNote: string | null;
  /** index of the Best-of-N winner among the candidates (ties: the first), or null without rewards */
  winner: number | null;
  tokensPerSecond: number;
  rewardNote: string | null;
}

export interface PlaygroundRequest {
  dir: string;
  step: number;
  prompt: string;
  n: number;
  k: number;
  temperature: number;
  maxTokens: number;
  seed: number;
}

export const PLAYGROUND_LIMITS = { n: [1, 64], k: [1, 16], temperature: [0, 5], maxTokens: [1, 512], promptChars: [0, 10_000] } as const;

export type HostToPlayground =
  | { type: 'runs'; seq: number; runs: PlaygroundRun[] }
  | { type: 'progress'; seq: number; phase: string; done: number; total: number }
  | { type: 'result'; seq: number; result: PlaygroundResult }
  | { type: 'status'; seq: number; message: string; error: boolean }
  /** fill the form (the launcher, or Open Playground on a run); null fields stay as they are */
  | { type: 'prefill'; seq: number; dir: string | null; prompt: string | null; step?: number | null };

export type PlaygroundToHost =
  | { type: 'ready' }
  | { type: 'generate'; request: PlaygroundRequest }
  | { type: 'cancelGenerate' }
  /** export a checkpoint: the one at `step`, or the latest when null */
  | { type: 'exportModels'; dir: string; step: number | null }
  | { type: 'chooseRewardModel'; dir: string }
  | { type: 'clearRewardModel'; dir: string };

/** One try, as the history keeps it (the texts stay in memory only; the request can be run again). */
export interface PlaygroundTry {
  request: PlaygroundRequest;
  runName: string;
  /** mean policy reward and the Best-of-N winner's reward; null without rewards */
  policyMean: number | null;
  bestReward: number | null;
  /** Unix ms */
  at: number;
}

/** What the playground tab keeps with setState, and what the panel serializer revives. */
export interface PlaygroundState {
  form: Omit<PlaygroundRequest, 'dir' | 'step'> & { dir: string | null; step: number | null };
  history: PlaygroundTry[];
}

export const MAX_HISTORY = 50;

export function parsePlaygroundRequest(value: unknown): PlaygroundRequest | string {
  if (!isObject(value)) return 'request must be an object';
  const { dir, step, prompt, n, k, temperature, maxTokens, seed } = value;
  const L = PLAYGROUND_LIMITS;
  if (typeof dir !== 'string' || !dir) return 'request.dir must be a run folder';
  if (!isNonNegativeInteger(step)) return 'request.step must be a non-negative integer';
  if (typeof prompt !== 'string' || prompt.length > L.promptChars[1]) return `request.prompt must be text of at most ${L.promptChars[1]} characters`;
  if (!Number.isInteger(n) || (n as number) < L.n[0] || (n as number) > L.n[1]) return `request.n must be an integer in [${L.n.join(', ')}]`;
  if (!Number.isInteger(k) || (k as number) < L.k[0] || (k as number) > L.k[1]) return `request.k must be an integer in [${L.k.join(', ')}]`;
  if (!isFiniteNumber(temperature) || temperature < L.temperature[0] || temperature > L.temperature[1]) return `request.temperature must be in [${L.temperature.join(', ')}]`;
  if (!Number.isInteger(maxTokens) || (maxTokens as number) < L.maxTokens[0] || (maxTokens as number) > L.maxTokens[1]) return `request.maxTokens must be an integer in [${L.maxTokens.join(', ')}]`;
  if (!isNonNegativeInteger(seed) || seed > 0xffffffff) return 'request.seed must be an integer in [0, 2^32)';
  return { dir, step, prompt, n: n as number, k: k as number, temperature, maxTokens: maxTokens as number, seed };
}

const runDir = (type: 'chooseRewardModel' | 'clearRewardModel') => (m: Record<string, unknown>): PlaygroundToHost | string =>
  (typeof m.dir === 'string' && m.dir ? { type, dir: m.dir } : 'dir must be a run folder');

export function parsePlaygroundMessage(value: unknown): Parsed<PlaygroundToHost> {
  return parseWith<PlaygroundToHost>(value, {
    ready: () => ({ type: 'ready' }),
    generate: (m) => {
      const request = parsePlaygroundRequest(m.request);
      return typeof request === 'string' ? request : { type: 'generate', request };
    },
    cancelGenerate: () => ({ type: 'cancelGenerate' }),
    exportModels: (m) => {
      if (typeof m.dir !== 'string' || !m.dir) return 'dir must be a run folder';
      if (m.step !== null && m.step !== undefined && !isNonNegativeInteger(m.step)) return 'step must be a checkpoint step (a whole number ≥ 0) or null';
      return { type: 'exportModels', dir: m.dir, step: isNonNegativeInteger(m.step) ? m.step : null };
    },
    chooseRewardModel: runDir('chooseRewardModel'),
    clearRewardModel: runDir('clearRewardModel'),
  }, 'playground');
}

const DEFAULT_FORM: PlaygroundState['form'] = { dir: null, step: null, prompt: 'the food was', n: 8, k: 2, temperature: 1, maxTokens: 40, seed: 0 };

/** A saved state read leniently: each form field falls back to its default, history keeps valid tries. */
export function parsePlaygroundState(value: unknown): PlaygroundState {
  const saved = isObject(value) ? value : {};
  const form = isObject(saved.form) ? saved.form : {};
  const pick = <K extends keyof PlaygroundState['form']>(key: K, valid: (v: unknown) => boolean): PlaygroundState['form'][K] =>
    (valid(form[key]) ? form[key] : DEFAULT_FORM[key]) as PlaygroundState['form'][K];
  const history: PlaygroundTry[] = [];
  for (const entry of Array.isArray(saved.history) ? saved.history.slice(-MAX_HISTORY) : []) {
    if (!isObject(entry)) continue;
    const request = parsePlaygroundRequest(entry.request);
    const nullableNumber = (v: unknown): v is number | null => v === null || isFiniteNumber(v);
    if (typeof request === 'string' || typeof entry.runName !== 'string' || !nullableNumber(entry.policyMean) || !nullableNumber(entry.bestReward) || !isFiniteNumber(entry.at)) continue;
    history.push({ request, runName: entry.runName, policyMean: entry.policyMean, bestReward: entry.bestReward, at: entry.at });
  }
  return {
    form: {
      dir: pick('dir', (v) => typeof v === 'string' && v.length > 0), step: pick('step', isNonNegativeInteger),
      prompt: pick('prompt', (v) => typeof v === 'string'), n: pick('n', isFiniteNumber), k: pick('k', isFiniteNumber),
      temperature: pick('temperature', isFiniteNumber), maxTokens: pick('maxTokens', isFiniteNumber), seed: pick('seed', isFiniteNumber),
    },
    history,
  };
}
