/**
 * What the host tells the webviews about a run, built from run.json (pure: the browser tests build
 * their host messages with these same functions from the shared fixtures).
 */
import { flattenConfig } from '../../contracts/config-fields';
import { canResume, describeChange, segmentsOf, type RunMeta } from '../../contracts/run-directory';
import type { DashboardRun } from '../../contracts/webviews/dashboard';
import type { SamplesRun } from '../../contracts/webviews/samples';
import { etaSeconds, summaryItems } from './format';
import type { DisplayStatus } from './runStore';

type Config = Record<string, unknown>;
const section = (config: Config, name: string): Config => {
  const value = config[name];
  return typeof value === 'object' && value !== null ? value as Config : {};
};
const num = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);

/** The Best-of-N a training step distils, as the trainer wrote it (older runs: bond.n), or null. */
export function trainBestOfN(meta: RunMeta): number | null {
  if (meta.distilled_n !== undefined) return meta.distilled_n;
  const n = section(meta.config, 'bond').n;
  return typeof n === 'number' && Number.isFinite(n) ? Math.max(2, n) : null;
}

export function evalBestOfN(meta: RunMeta): number {
  return Math.max(2, num(section(meta.config, 'eval').bon_n, trainBestOfN(meta) ?? 2));
}

/** The algorithm's own summary (run.json config_summary); for older runs, the fields every run has. */
export function configSummary(meta: RunMeta): { label: string; value: string }[] {
  if (meta.config_summary) return meta.config_summary;
  const train = section(meta.config, 'train');
  const items: { label: string; value: string }[] = [];
  const add = (label: string, value: unknown): void => {
    if (value !== undefined && value !== null) items.push({ label, value: String(value) });
  };
  add('reward', section(meta.config, 'reward').type);
  add('lr', train.lr);
  add('batch', train.batch_size);
  add('seed', train.seed);
  add('eval BoN', section(meta.config, 'eval').bon_n);
  return items;
}

export { flattenConfig } from '../../contracts/config-fields';

const isLive = (status: DisplayStatus): boolean => status === 'running' || status === 'starting';

/** What the editor adds to run.json: the run's label (what tells it apart) and the user's note and tags. */
export interface RunDisplay {
  label?: string;
  note?: string;
  tags?: string[];
}

export function toDashboardRun(dir: string, meta: RunMeta, status: DisplayStatus, nowMs: number, notes: string[] = [],
  display: RunDisplay = {}): DashboardRun {
  const eta = isLive(status) ? etaSeconds(meta, nowMs) : undefined;
  return {
    dir,
    name: display.label ?? meta.name,
    note: display.note ?? null,
    tags: display.tags ?? [],
    algorithm: meta.algorithm,
    status,
    step: meta.step,
    totalSteps: meta.total_steps,
    device: meta.device,
    precision: meta.precision ?? null,
    model: meta.model ?? null,
    worldSize: meta.world_size ?? 1,
    etaSeconds: eta === undefined || !Number.isFinite(eta) ? null : Math.max(0, eta),
    trainN: trainBestOfN(meta),
    bonN: evalBestOfN(meta),
    configSummary: configSummary(meta),
    metricGroups: meta.metric_groups ?? null,
    config: flattenConfig(meta.config),
    summary: summaryItems(meta),
    configChanges: segmentsOf(meta).slice(1).map((segment) => ({ step: segment.start_step, changes: segment.changes.map(describeChange) })),
    error: meta.error ? `${meta.error.type} error${meta.error.step !== null && meta.error.step !== undefined ? ` at step ${meta.error.step}` : ''}: ${meta.error.message}` : null,
    notes,
    canStop: isLive(status),
    canResume: canResume(status),
  };
}

export function toSamplesRun(dir: string, meta: RunMeta, status: DisplayStatus, label?: string): SamplesRun {
  return { dir, name: label ?? meta.name, status, step: meta.step, totalSteps: meta.total_steps, bonN: evalBestOfN(meta) };
}
