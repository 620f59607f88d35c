/**
 * How a run is launched: `python -m bond_trainer …` for one process, or PyTorch's own launcher
 * (`python -m torch.distributed.run`, i.e. torchrun) when the config's `distributed` section asks
 * for more than one. Pure functions of the config text, so they are tested without a process.
 */
import { parse as parseJsonc } from 'jsonc-parser';
import { TRAINER_MODULE } from './trainerCli';

export interface DistributedLaunch {
  nprocPerNode: number;
  nnodes: number;
  rdzvEndpoint: string | null;
  rdzvId: string;
}

const DEFAULTS: DistributedLaunch = { nprocPerNode: 1, nnodes: 1, rdzvEndpoint: null, rdzvId: 'bond' };

function positiveInteger(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : fallback;
}

/**
 * The `distributed` section of a config (comments allowed), with `--set distributed.…=…`
 * overrides applied. Invalid values fall back to the defaults: the trainer validates the config
 * and reports them with the field's name.
 */
export function distributedLaunch(configText: string, overrides: readonly string[] = []): DistributedLaunch {
  let section: Record<string, unknown> = {};
  try {
    const parsed: unknown = parseJsonc(configText, [], { allowTrailingComma: true });
    const value = typeof parsed === 'object' && parsed !== null ? (parsed as { distributed?: unknown }).distributed : undefined;
    if (typeof value === 'object' && value !== null) section = { ...(value as Record<string, unknown>) };
  } catch {
    // The trainer reports unreadable configs.
  }
  for (const override of overrides) {
    const match = /^distributed\.([A-Za-z_]+)=(.*)$/s.exec(override);
    const [key, raw] = [match?.[1], match?.[2]];
    if (key === undefined || raw === undefined) continue;
    try {
      section[key] = JSON.parse(raw);
    } catch {
      section[key] = raw;
    }
  }
  return {
    nprocPerNode: positiveInteger(section.nproc_per_node, DEFAULTS.nprocPerNode),
    nnodes: positiveInteger(section.nnodes, DEFAULTS.nnodes),
    rdzvEndpoint: typeof section.rdzv_endpoint === 'string' ? section.rdzv_endpoint : null,
    rdzvId: typeof section.rdzv_id === 'string' && section.rdzv_id ? section.rdzv_id : DEFAULTS.rdzvId,
  };
}

export function worldSize(launch: DistributedLaunch): number {
  return launch.nprocPerNode * launch.nnodes;
}

/** The arguments after the Python executable. */
export function trainerArguments(launch: DistributedLaunch, trainerArgs: readonly string[]): string[] {
  if (worldSize(launch) === 1) return [...TRAINER_MODULE, ...trainerArgs];
  const rendezvous = launch.nnodes === 1 && launch.rdzvEndpoint === null
    ? ['--standalone']
    : ['--rdzv_backend=c10d', `--rdzv_endpoint=${launch.rdzvEndpoint ?? 'localhost:29400'}`, `--rdzv_id=${launch.rdzvId}`];
  return ['-m', 'torch.distributed.run', `--nnodes=${launch.nnodes}`, `--nproc_per_node=${launch.nprocPerNode}`,
    ...rendezvous, ...TRAINER_MODULE, ...trainerArgs];
}
