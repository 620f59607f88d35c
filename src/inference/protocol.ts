/** Messages between the extension host and the inference worker thread. */
import type { Completion, SamplingOptions } from './sampler';

export interface GenerateRequest {
  /** export folders (model.onnx + model.json) */
  policy: string;
  anchor: string;
  /** π_ref's export, when there is one: K samples of the model training started from */
  reference?: string;
  prompt: string;
  /** samples shown for the policy, the anchor and the reference */
  k: number;
  /** Best-of-N candidates drawn from the anchor */
  n: number;
  options: Omit<SamplingOptions, 'useCache'>;
  /** an ONNX reward model (bytes of prompt + completion → one score per row), when the run's reward cannot run here */
  rewardModel?: string;
}

export interface GenerateResult {
  policy: Completion[];
  anchor: Completion[];
  candidates: Completion[];
  /** the reference's samples, when a reference was given */
  reference?: Completion[];
  tokensPerSecond: number;
  /** the reward model's scores, when one was given */
  rewards?: { policy: number[]; anchor: number[]; candidates: number[]; reference?: number[] };
}

export type ToWorker =
  | { type: 'generate'; id: number; request: GenerateRequest }
  | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'progress'; id: number; phase: 'policy' | 'anchor' | 'reference'; done: number; total: number }
  | { type: 'result'; id: number; result: GenerateResult }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; message: string };
