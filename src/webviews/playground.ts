/**
 * The playground's host side: which runs have exported models, generation through the inference
 * worker, rewards computed here with the run's built-in reward, and exports on request. Requests
 * name a run folder and a step; the host only ever uses export folders it found itself.
 */
import { basename } from 'node:path';
import type { PlaygroundRequest, PlaygroundResult, PlaygroundRun, PlaygroundText } from '../../contracts/webviews/playground';
import { checkpointsOnDisk } from '../core/checkpointsOnDisk';
import type { TrainerEnvironment } from '../core/python';
import { NeedsPackages } from '../core/trainerCli';
import { runLabel, type RunStore } from '../core/runStore';
import { evalBestOfN } from '../core/webviewModels';
import type { GenerateHandle, InferenceClient } from '../inference/client';
import { exportCheckpoint, latestExportProblem, listExports, roleExportProblem } from '../inference/onnxExports';
import { buildRunReward } from '../inference/rewards';
import type { Completion } from '../inference/sampler';

/** Where the chosen ONNX reward model of each run is remembered (the workspace state in the editor). */
export interface RewardModelChoices {
  get(dir: string): string | undefined;
  set(dir: string, path: string | undefined): PromiseLike<void>;
}

export interface PlaygroundEvents {
  progress(phase: string, done: number, total: number): void;
  status(message: string, error: boolean): void;
  result(result: PlaygroundResult): void;
  runsChanged(): Promise<void>;
  /** an export finished: the form shows that run at that step */
  exported(dir: string, step: number): void;
  /** an export needs optional packages: offer to install them, then run `retry` */
  needsPackages(message: string, install: readonly string[], retry: () => Promise<void>): void;
}

/** The run's reward here, or why not; a composite reward's left-out components are named in the note. */
function rewardOf(config: Record<string, unknown>): ((text: string) => number) | string {
  const reward = buildRunReward(config.reward ?? {});
  return 'unavailable' in reward ? reward.unavailable : reward.score;
}

function rewardNote(config: Record<string, unknown>): string | null {
  const reward = buildRunReward(config.reward ?? {});
  if ('unavailable' in reward) return `${reward.unavailable}. Choose an ONNX reward model to score samples here.`;
  return reward.skipped.length ? `Rewards here leave out: ${reward.skipped.join('; ')}` : null;
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
    private readonly client: InferenceClient, private readonly events: PlaygroundEvents, private readonly rewardModels: RewardModelChoices) {}

  async setRewardModel(dir: string, path: string | undefined): Promise<void> {
    if (!this.store.get(dir)) return this.events.status(`no run at ${dir}`, true);
    await this.rewardModels.set(dir, path);
    await this.events.runsChanged();
  }

  async runs(): Promise<PlaygroundRun[]> {
    const runs: PlaygroundRun[] = [];
    for (const state of this.store.runs) {
      const exports = await listExports(state.dir);
      const model = this.rewardModels.get(state.dir);
      const exported = new Set(exports.map((e) => e.step));
      const checkpoints = await checkpointsOnDisk(state.dir); // intact ones, newest first
      runs.push({ dir: state.dir, name: runLabel(state), status: state.status, bonN: evalBestOfN(state.meta), steps: exports.map((e) => e.step), canExport: checkpoints.length > 0,
        checkpointSteps: checkpoints.map((c) => c.step).filter((step) => !exported.has(step)),
        rewardNote: model ? null : rewardNote(state.meta.config),
        rewardModel: model ? basename(model) : null, exportNote: await latestExportProblem(state.dir) });
    }
    return runs;
  }

  async generate(request: PlaygroundRequest): Promise<void> {
    const state = this.store.get(request.dir);
    if (!state) return this.events.status(`no run at ${request.dir}`, true);
    const found = (await listExports(request.dir)).find((e) => e.step === request.step);
    if (!found) return this.events.status(`${runLabel(state)} has no exported models at step ${request.step}; export them first`, true);
    this.running?.cancel();
    const rewardModel = this.rewardModels.get(request.dir);
    // A fixed anchor is π_ref: its column already shows the reference.
    const reference = found.reference !== null && found.reference !== found.anchor ? found.reference : undefined;
    const referenceNote = found.reference === found.anchor ? 'This run\'s anchor is the reference (a fixed anchor): the Anchor column shows π_ref.'
      : reference ? null : await roleExportProblem(request.dir, request.step, 'reference').then((why) => (why
        ? `No π_ref column: ${why}` : `π_ref was not exported with step ${request.step} (exported before the playground exported it); export the step again to add it.`));
    const handle = this.client.generate({
      policy: found.policy, anchor: found.anchor, ...(reference ? { reference } : {}), prompt: request.prompt, k: request.k, n: request.n,
      options: { maxNewTokens: request.maxTokens, temperature: request.temperature, topK: 0, topP: 1, seed: request.seed },
      ...(rewardModel ? { rewardModel } : {}),
    }, (phase, done, total) => this.events.progress(phase, done, total));
    this.running = handle;
    try {
      const result = await handle.result;
      // a request replaced by a newer one ends quietly: the newer one owns the panel's status
      if (this.running !== handle) return;
      if (result === 'cancelled') return this.events.status('cancelled', false);
      const builtIn = rewardOf(state.meta.config);
      // an ONNX reward model scored in the worker, else the run's built-in reward here, else none
      const scored = (list: Completion[], rewards: number[] | undefined): PlaygroundText[] => list.map((c, i) => ({
        text: c.text, truncated: c.truncated,
        reward: rewards ? rewards[i] ?? null : typeof builtIn === 'string' ? null : builtIn(c.text),
      }));
      const candidates = scored(result.candidates, result.rewards?.candidates);
      const hasRewards = candidates.every((c) => c.reward !== null);
      this.events.result({
        request, runName: runLabel(state), step: request.step, prompt: request.prompt,
        policy: scored(result.policy, result.rewards?.policy), anchor: scored(result.anchor, result.rewards?.anchor), candidates,
        reference: result.reference ? scored(result.reference, result.rewards?.reference) : null, referenceNote,
        winner: hasRewards ? bestIndex(candidates.map((c) => c.reward as number)) : null,
        tokensPerSecond: result.tokensPerSecond,
        rewardNote: result.rewards ? `rewards from ${basename(rewardModel ?? '')}` : typeof builtIn === 'string' ? builtIn : null,
      });
    } catch (error) {
      if (this.running === handle) this.events.status(`generation failed: ${(error as Error).message}`, true);
    } finally {
      if (this.running === handle) this.running = undefined;
    }
  }

  cancel(): void {
    this.running?.cancel();
  }

  /** Export a checkpoint (the latest when `step` is undefined) for the playground. */
  async exportModels(dir: string, step?: number): Promise<void> {
    const state = this.store.get(dir);
    if (!state) return this.events.status(`no run at ${dir}`, true);
    this.events.status(`exporting ${runLabel(state)}'s ${step === undefined ? 'latest checkpoint' : `checkpoint at step ${step}`} to ONNX…`, false);
    try {
      const set = await exportCheckpoint(await this.environment(), dir, state.meta, step);
      await this.events.runsChanged(); // first the new step list, then the message (the list resets it)
      this.events.exported(dir, set.step);
      this.events.status(`exported step ${set.step}`, false);
    } catch (error) {
      this.events.status(`export failed: ${(error as Error).message}`, true);
      if (error instanceof NeedsPackages) this.events.needsPackages((error as Error).message, error.install, () => this.exportModels(dir, step));
    }
  }
}
