/**
 * The playground's host side: which runs have exported models, generation through the inference
 * worker, rewards computed here with the run's built-in reward, and exports on request. Requests
 * name a run folder and a step; the host only ever uses export folders it found itself.
 */
import type { PlaygroundRequest, PlaygroundResult, PlaygroundRun, PlaygroundText } from '../../contracts/webviews/inspector';
import type { TrainerEnvironment } from '../core/python';
import type { RunStore } from '../core/runStore';
import type { GenerateHandle, InferenceClient } from '../inference/client';
import { exportLatest, listExports } from '../inference/exports';
import { buildReward } from '../inference/rewards';
import type { Completion } from '../inference/sampler';

export interface PlaygroundEvents {
  progress(phase: string, done: number, total: number): void;
  status(message: string, error: boolean): void;
  result(result: PlaygroundResult): void;
  runsChanged(): Promise<void>;
}

function rewardOf(config: Record<string, unknown>): ((text: string) => number) | string {
  const reward = buildReward((config.reward ?? {}) as Record<string, unknown>);
  return typeof reward === 'function' ? reward : reward.unavailable;
}

/** Best-of-N's pick: the highest reward, the first one on a tie (the trainer's rule). */
export function bestIndex(rewards: readonly number[]): number | null {
  let best: number | null = null;
  rewards.forEach((reward, index) => {
    if (best === null || reward > (rewards[best] as number)) best = index;
  });
  return best;
}

export class Playground {
  private running: GenerateHandle | undefined;

  constructor(private readonly store: RunStore, private readonly environment: () => Promise<TrainerEnvironment>,
    private readonly client: InferenceClient, private readonly events: PlaygroundEvents) {}

  async runs(): Promise<PlaygroundRun[]> {
    const runs: PlaygroundRun[] = [];
    for (const state of this.store.runs) {
      const exports = await listExports(state.dir);
      const reward = rewardOf(state.meta.config);
      runs.push({ dir: state.dir, name: state.meta.name, steps: exports.map((e) => e.step), canExport: state.meta.checkpoints.length > 0,
        rewardNote: typeof reward === 'string' ? reward : null });
    }
    return runs;
  }

  async generate(request: PlaygroundRequest): Promise<void> {
    const state = this.store.get(request.dir);
    if (!state) return this.events.status(`no run at ${request.dir}`, true);
    const found = (await listExports(request.dir)).find((e) => e.step === request.step);
    if (!found) return this.events.status(`${state.meta.name} has no exported models at step ${request.step}; export them first`, true);
    this.running?.cancel();
    const handle = this.client.generate({
      policy: found.policy, anchor: found.anchor, prompt: request.prompt, k: request.k, n: request.n,
      options: { maxNewTokens: request.maxTokens, temperature: request.temperature, topK: 0, topP: 1, seed: request.seed },
    }, (phase, done, total) => this.events.progress(phase, done, total));
    this.running = handle;
    try {
      const result = await handle.result;
      if (result === 'cancelled') return this.events.status('cancelled', false);
      const reward = rewardOf(state.meta.config);
      const score = (c: Completion): PlaygroundText => ({ text: c.text, truncated: c.truncated, reward: typeof reward === 'string' ? null : reward(c.text) });
      const candidates = result.candidates.map(score);
      this.events.result({
        runName: state.meta.name, step: request.step, prompt: request.prompt,
        policy: result.policy.map(score), anchor: result.anchor.map(score), candidates,
        winner: typeof reward === 'string' ? null : bestIndex(candidates.map((c) => c.reward as number)),
        tokensPerSecond: result.tokensPerSecond, rewardNote: typeof reward === 'string' ? reward : null,
      });
    } catch (error) {
      this.events.status(`generation failed: ${(error as Error).message}`, true);
    } finally {
      if (this.running === handle) this.running = undefined;
    }
  }

  cancel(): void {
    this.running?.cancel();
  }

  async exportModels(dir: string): Promise<void> {
    const state = this.store.get(dir);
    if (!state) return this.events.status(`no run at ${dir}`, true);
    this.events.status(`exporting ${state.meta.name}'s latest checkpoint to ONNX…`, false);
    try {
      const set = await exportLatest(await this.environment(), dir, state.meta);
      await this.events.runsChanged(); // first the new step list, then the message (the list resets it)
      this.events.status(`exported step ${set.step}`, false);
    } catch (error) {
      this.events.status(`export failed: ${(error as Error).message}`, true);
    }
  }
}
