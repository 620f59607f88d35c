/**
 * The experiments table's rows, from the run store's runs (no VS Code here): each run's headline
 * (label, status, algorithm, sweep, last evaluation, duration) and the config fields that vary across
 * all runs. Flattened configs are kept per run and made again only when its run.json changes.
 */
import { differingFields, flattenConfig } from '../../contracts/config-fields';
import type { RunMeta } from '../../contracts/run-directory';
import type { ExperimentRow } from '../../contracts/webviews/experiments';
import { runLabel, type RunState } from './runStore';

const finiteOrNull = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

export class ExperimentsModel {
  private readonly flat = new Map<string, { meta: RunMeta; config: Record<string, string> }>();
  /** the config fields whose values differ between the runs, as last computed */
  fields: string[] = [];

  private configOf(run: RunState): Record<string, string> {
    const kept = this.flat.get(run.dir);
    if (kept && kept.meta === run.meta) return kept.config;
    const config = flattenConfig(run.meta.config ?? {});
    this.flat.set(run.dir, { meta: run.meta, config });
    return config;
  }

  /** Recompute the varying fields over these runs; true when they changed (the view then needs a snapshot). */
  updateFields(runs: readonly RunState[]): boolean {
    const live = new Set(runs.map((run) => run.dir));
    for (const dir of this.flat.keys()) if (!live.has(dir)) this.flat.delete(dir);
    const fields = differingFields(runs.map((run) => this.configOf(run)));
    const changed = fields.join('\n') !== this.fields.join('\n');
    this.fields = fields;
    return changed;
  }

  row(run: RunState): ExperimentRow {
    const flat = this.configOf(run);
    const config: Record<string, string> = {};
    for (const field of this.fields) if (field in flat) config[field] = flat[field]!;
    const evaluation = run.latestEval as Record<string, unknown> | undefined;
    const started = run.meta.started_at ?? run.meta.created_at;
    const sweep = run.meta.sweep ?? null;
    return {
      dir: run.dir, label: runLabel(run), status: run.status, algorithm: String(run.meta.algorithm), sweep: sweep?.name ?? null,
      trial: sweep && Number.isInteger(sweep.trial) ? sweep.trial : null, seed: sweep && Number.isInteger(sweep.seed) ? sweep.seed : null,
      step: run.meta.step, totalSteps: run.meta.total_steps, tags: run.annotations?.tags ?? [], config,
      reward: finiteOrNull(evaluation?.['eval/reward/policy']), kl: finiteOrNull(evaluation?.['eval/kl/policy_ref']),
      effectiveN: finiteOrNull(evaluation?.['eval/effective_n']), winRate: finiteOrNull(evaluation?.['eval/win_rate_vs_bon']),
      durationS: Number.isFinite(started) && Number.isFinite(run.meta.updated_at) ? Math.max(0, run.meta.updated_at - started) : null,
      startedAt: started * 1000,
      problem: run.readProblem ?? (run.metaNotes.length ? run.metaNotes.join('; ') : null),
    };
  }
}
