/**
 * What the trainer's command line prints for the extension to read (stdout JSON), with guards:
 * output from another process is validated before it is trusted.
 */

export interface DeviceInfo {
  type: 'cuda' | 'mps' | 'cpu';
  index: number;
  name: string;
  memory_bytes: number | null;
  bf16: boolean;
}

/** `python -m bond_trainer check` */
export interface EnvironmentReport {
  ok: boolean;
  trainer_version: string;
  python: { version: string; executable: string };
  torch: { version: string; cuda: string | null; meets_minimum: boolean };
  platform: string;
  devices: DeviceInfo[];
  default_device: string;
  extras: Record<string, boolean>;
}

export interface ConfigProblem {
  /** dotted field, e.g. "bond.n" or "data.train[0]"; "" for the whole file */
  field: string;
  message: string;
  /** moved: a field of an older layout, read as the field that now holds it (a warning, never fatal) */
  check: 'syntax' | 'schema' | 'semantic' | 'override' | 'file' | 'moved';
  line: number | null;
  column: number | null;
  /** pip requirements that fix it (a missing optional package); the editor offers to install them */
  install?: string[];
  /** an unknown key's likely intended name ("did you mean"): the editor offers to rename it */
  rename_to?: string;
}

/** `python -m bond_trainer validate --config FILE` */
export interface ValidateReport {
  ok: boolean;
  config: string;
  problems: ConfigProblem[];
  /** what the config can run with but should change (older field names); absent from older trainers */
  warnings?: ConfigProblem[];
  /** with --diff-run: what differs from the config that run last trained with */
  changes?: { field: string; before: unknown; after: unknown }[];
}

/** What `export-onnx` prints on stdout when it fails: why, and what to pip-install when that is the fix. */
export interface ExportFailure {
  ok: false;
  problem: string;
  install: string[];
}

/** Exit codes of `train`: 0 finished or stopped, 2 bad config or arguments, 1 anything else. */
export const EXIT_BAD_INPUT = 2;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isEnvironmentReport(value: unknown): value is EnvironmentReport {
  if (!isObject(value) || !isObject(value.python) || !isObject(value.torch) || !Array.isArray(value.devices)) return false;
  return typeof value.python.version === 'string' && typeof value.torch.version === 'string'
    && typeof value.torch.meets_minimum === 'boolean'
    && value.devices.every((d) => isObject(d) && typeof d.type === 'string' && typeof d.name === 'string');
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

export function isExportFailure(value: unknown): value is ExportFailure {
  return isObject(value) && value.ok === false && typeof value.problem === 'string' && isStringArray(value.install);
}

function isConfigProblem(p: unknown): p is ConfigProblem {
  return isObject(p) && typeof p.field === 'string' && typeof p.message === 'string'
    && typeof p.check === 'string' && (p.install === undefined || isStringArray(p.install))
    && (p.rename_to === undefined || typeof p.rename_to === 'string');
}

export function isValidateReport(value: unknown): value is ValidateReport {
  return isObject(value) && typeof value.ok === 'boolean' && Array.isArray(value.problems)
    && value.problems.every(isConfigProblem)
    && (value.warnings === undefined || (Array.isArray(value.warnings) && value.warnings.every(isConfigProblem)));
}
