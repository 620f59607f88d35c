/**
 * What the host tells the webviews about a run, built from run.json (pure: the browser tests build
 * their host messages with these same functions from the shared fixtures).
 */
import type { RunMeta } from '../../contracts/run-directory';
import type { DashboardRun } from '../../contracts/webviews/dashboard';
import type { SamplesRun } from '../../contracts/webviews/samples';
import { etaSeconds } from './format';
import type { DisplayStatus } from './runStore';

type Config = Record<string, unknown>;
const section = (config: Config, name: string): Config => {
  const value = config[name];
  return typeof value === 'object' && value !== null ? value as Config : {};
};
const num = (value: unknown, fallback: number): number => (typeof value === 'number' && Number.isFinite(value) ? value : fallback);

/** The Best-of-N a training step distils: J-BOND's is Best-of-2 of the anchor; BOND's is bond.n. */
export function trainBestOfN(meta: RunMeta): number {
  return meta.algorithm === 'jbond' ? 2 : Math.max(2, num(section(meta.config, 'bond').n, 2));
}

export function evalBestOfN(meta: RunMeta): number {
  return Math.max(2, num(section(meta.config, 'eval').bon_n, trainBestOfN(meta)));
}

export function configSummary(meta: RunMeta): { label: string; value: string }[] {
  const bond = section(meta.config, 'bond');
  const train = section(meta.config, 'train');
  const reward = section(meta.config, 'reward');
  const items: { label: string; value: string }[] = [];
  const add = (label: string, value: unknown): void => {
    if (value !== undefined && value !== null) items.push({ label, value: String(value) });
  };
  add('reward', reward.type);
  if (meta.algorithm === 'reinforce') add('β_KL', section(meta.config, 'reinforce').beta_kl);
  else {
    add('β', bond.beta);
    add('anchor', bond.anchor === 'ema' ? `EMA η=${String(bond.ema_eta)}` : bond.anchor);
    if (meta.algorithm === 'jbond') add('γ', bond.gamma);
    else add('N', bond.n);
  }
  add('lr', train.lr);
  add('batch', train.batch_size);
  add('seed', train.seed);
  add('eval BoN', section(meta.config, 'eval').bon_n);
  return items;
}

const isLive = (status: DisplayStatus): boolean => status === 'running' || status === 'starting';

export function toDashboardRun(dir: string, meta: RunMeta, status: DisplayStatus, nowMs: number): DashboardRun {
  const eta = isLive(status) ? etaSeconds(meta, nowMs) : undefined;
  return {
    dir,
    name: meta.name,
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
    error: meta.error ? `${meta.error.type} error${meta.error.step !== null && meta.error.step !== undefined ? ` at step ${meta.error.step}` : ''}: ${meta.error.message}` : null,
    canStop: isLive(status),
    canResume: status === 'stopped' || status === 'failed' || status === 'lost',
  };
}

export function toSamplesRun(dir: string, meta: RunMeta, status: DisplayStatus): SamplesRun {
  return { dir, name: meta.name, status, step: meta.step, totalSteps: meta.total_steps, bonN: evalBestOfN(meta) };
}
