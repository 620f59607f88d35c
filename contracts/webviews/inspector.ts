/**
 * The side panel's message contract. Two sections: the inspector (the sample under focus in a
 * samples panel) and the playground (try a prompt on a run's exported policy and anchor).
 */
import type { SampleRecord } from '../run-directory';
import { isFiniteNumber, isNonNegativeInteger, isObject, parseWith, type Parsed } from './guards';

export interface InspectorFocus {
  dir: string;
  runName: string;
  bonN: number;
  record: SampleRecord;
  /** position of the record in the samples panel's current order, and that order's length */
  index: number;
  count: number;
}

/** A run the playground can use: its exported steps (newest first). */
export interface PlaygroundRun {
  dir: string;
  name: string;
  steps: number[];
  /** checkpoints exist but nothing is exported yet: the panel offers to export */
  canExport: boolean;
  /** why rewards cannot be shown for this run (e.g. a Python reward), or null */
  rewardNote: string | null;
  /** why the latest exported step is missing models (torch.onnx could not export them), or null */
  exportNote: string | null;
  /** the ONNX reward model used instead of the run's reward (file name), or null */
  rewardModel: string | null;
}

export interface PlaygroundText {
  text: string;
  /** null when the run's reward cannot be computed here */
  reward: number | null;
  truncated: boolean;
}

export interface PlaygroundResult {
  runName: string;
  step: number;
  prompt: string;
  policy: PlaygroundText[];
  anchor: PlaygroundText[];
  candidates: PlaygroundText[];
  /** index of the Best-of-N winner among the candidates (ties: the first), or null without rewards */
  winner: number | null;
  tokensPerSecond: number;
  rewardNote: string | null;
}

export type HostToInspector =
  | { type: 'focus'; seq: number; focus: InspectorFocus | null }
  | { type: 'playgroundRuns'; seq: number; runs: PlaygroundRun[] }
  | { type: 'playgroundProgress'; seq: number; phase: string; done: number; total: number }
  | { type: 'playgroundResult'; seq: number; result: PlaygroundResult }
  | { type: 'playgroundStatus'; seq: number; message: string; error: boolean };

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

export type InspectorToHost =
  | { type: 'ready' }
  | { type: 'navigate'; delta: 1 | -1 }
  | { type: 'openInSamples' }
  | { type: 'generate'; request: PlaygroundRequest }
  | { type: 'cancelGenerate' }
  | { type: 'exportModels'; dir: string }
  | { type: 'chooseRewardModel'; dir: string }
  | { type: 'clearRewardModel'; dir: string };

export const PLAYGROUND_LIMITS = { n: [1, 64], k: [1, 16], temperature: [0, 5], maxTokens: [1, 512], promptChars: [0, 10_000] } as const;

function parseRequest(value: unknown): PlaygroundRequest | string {
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

export function parseInspectorMessage(value: unknown): Parsed<InspectorToHost> {
  return parseWith<InspectorToHost>(value, {
    ready: () => ({ type: 'ready' }),
    navigate: (m) => (m.delta === 1 || m.delta === -1 ? { type: 'navigate', delta: m.delta } : 'delta must be 1 or -1'),
    openInSamples: () => ({ type: 'openInSamples' }),
    generate: (m) => {
      const request = parseRequest(m.request);
      return typeof request === 'string' ? request : { type: 'generate', request };
    },
    cancelGenerate: () => ({ type: 'cancelGenerate' }),
    exportModels: (m) => (typeof m.dir === 'string' && m.dir ? { type: 'exportModels', dir: m.dir } : 'dir must be a run folder'),
    chooseRewardModel: (m) => (typeof m.dir === 'string' && m.dir ? { type: 'chooseRewardModel', dir: m.dir } : 'dir must be a run folder'),
    clearRewardModel: (m) => (typeof m.dir === 'string' && m.dir ? { type: 'clearRewardModel', dir: m.dir } : 'dir must be a run folder'),
  }, 'inspector');
}
