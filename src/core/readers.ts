/**
 * The reader-side contract: what the editor requires of a line to use it. The trainer's own tests
 * hold it to the strict writer schema (contracts/schemas); the editor requires only the fields it
 * uses, keeps what it does not know (a newer trainer's metric, a user's own), and says why it
 * skipped a line instead of dropping it silently.
 */
import { KNOWN_STATUSES, RUN_FORMAT_VERSION, type MetricRecord, type RunMeta } from '../../contracts/run-directory';
import { KNOWN_RUN_FIELDS, checkRunField } from './schemas';

/** Why a line cannot be used: the reader's words, shown to the user with the line number. */
export class LineProblem {
  constructor(readonly reason: string) {}
}

/** A line of a JSON Lines file → the record the editor uses, or why not. */
export type LineReader<T> = (value: unknown) => T | LineProblem;

/** A type guard as a reader (the strict schema validators), with its own account of a failure. */
export function fromGuard<T>(guard: (value: unknown) => value is T, describe: () => string): LineReader<T> {
  return (value) => (guard(value) ? value : new LineProblem(`does not match the schema: ${describe()}`));
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A metrics.jsonl line: `kind` (train or eval) and a whole, non-negative `step` are required; every
 * other field that is a finite number is a metric, whatever its name; `time` defaults to 0 and
 * `bon_curve` is kept when it is a list of numbers. Fields of other types are left out.
 */
export const readMetricLine: LineReader<MetricRecord> = (value) => {
  if (!isObject(value)) return new LineProblem('not a JSON object');
  if (value.kind !== 'train' && value.kind !== 'eval') return new LineProblem(`"kind" is ${JSON.stringify(value.kind) ?? 'missing'}, not "train" or "eval"`);
  const step = value.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) return new LineProblem(`"step" is ${JSON.stringify(step) ?? 'missing'}, not a whole number ≥ 0`);
  // A line as the trainer writes it (finite numbers, and eval's list of numbers) is used as parsed:
  // copying each of a 1 GB file's 1.6 million lines cost as much as parsing them.
  if (usableAsParsed(value)) return value as MetricRecord;
  const record: MetricRecord = { kind: value.kind, step, time: typeof value.time === 'number' && Number.isFinite(value.time) ? value.time : 0 };
  for (const [key, field] of Object.entries(value)) {
    if (key === 'kind' || key === 'step' || key === 'time') continue;
    if (typeof field === 'number' && Number.isFinite(field)) record[key] = field;
    else if (key === 'bon_curve' && isNumberList(field)) record.bon_curve = field as number[];
  }
  return record;
};

const isNumberList = (field: unknown): boolean => Array.isArray(field) && field.every((v) => typeof v === 'number' && Number.isFinite(v));

/** Every field but `kind` is a finite number (`time` among them), or `bon_curve` a list of them. */
function usableAsParsed(value: Record<string, unknown>): boolean {
  if (typeof value.time !== 'number' || !Number.isFinite(value.time)) return false;
  for (const key in value) {
    if (key === 'kind') continue;
    const field = value[key];
    if (typeof field === 'number' ? !Number.isFinite(field) : !(key === 'bon_curve' && isNumberList(field))) return false;
  }
  return true;
}

/** run.json as the editor reads it: the meta it can use and what it had to say about the file. */
export interface RunMetaReading {
  meta: RunMeta;
  /** what was unknown, missing or unusable, each naming the field; empty for a run this version wrote */
  notes: string[];
}

/** What a required run.json field is taken to be when it is missing or unusable. */
function runDefaults(runId: string): Omit<RunMeta, 'status'> {
  return {
    format_version: RUN_FORMAT_VERSION, run_id: runId, name: runId, algorithm: 'unknown', config: {}, config_path: null,
    pid: 0, host: '', device: 'unknown', created_at: 0, updated_at: 0, heartbeat_at: 0, started_at: null, started_step: 0,
    ended_at: null, step: 0, total_steps: 1, resume_count: 0, error: null, summary: null, checkpoints: [],
    trainer_version: '', torch_version: '',
  };
}

const shown = (value: unknown): string => {
  if (value === undefined) return 'missing';
  try {
    return JSON.stringify(value).slice(0, 80);
  } catch {
    return '(a value too deeply nested to show)'; // JSON.stringify's RangeError: it must not empty the runs view
  }
};

/**
 * A run.json value → the meta the editor uses. Required: a JSON object with a `status` text. Every
 * other field is checked on its own against its part of the run schema: a field that fails is
 * replaced by its default (or left out when optional) and named in a note; a status, algorithm or
 * format version this version does not know is kept and noted; unknown fields are kept and listed.
 */
export function readRunMetaValue(value: unknown, folderName: string): RunMetaReading | LineProblem {
  if (!isObject(value)) return new LineProblem('run.json is not a JSON object');
  const status = value.status;
  if (typeof status !== 'string' || !status) return new LineProblem(`run.json: "status" is ${shown(status)}, not a text; the run's state cannot be told`);
  const notes: string[] = [];
  const defaults = runDefaults(folderName) as unknown as Record<string, unknown>;
  const meta: Record<string, unknown> = { ...defaults, status };
  if (!(KNOWN_STATUSES as readonly string[]).includes(status)) notes.push(`run.json: status "${status}" is not one this version knows; shown as it is`);
  const unknown: string[] = [];
  for (const [field, fieldValue] of Object.entries(value)) {
    if (field === 'status') continue;
    if (!KNOWN_RUN_FIELDS.includes(field)) {
      unknown.push(field);
      meta[field] = fieldValue;
      continue;
    }
    if (field === 'algorithm' && typeof fieldValue === 'string' && fieldValue) {
      meta.algorithm = fieldValue; // the run's own metric_groups say what to chart for a new algorithm
      continue;
    }
    if (field === 'format_version' && typeof fieldValue === 'number') {
      if (fieldValue !== RUN_FORMAT_VERSION) notes.push(`run.json: format_version ${fieldValue}, this version reads ${RUN_FORMAT_VERSION}; showing what it can`);
      meta.format_version = fieldValue;
      continue;
    }
    const problem = checkRunField(field, fieldValue);
    if (problem === undefined) meta[field] = fieldValue;
    else notes.push(`run.json: "${field}" ${problem} (is ${shown(fieldValue)}); ${field in defaults ? `shown as ${shown(defaults[field])}` : 'left out'}`);
  }
  for (const field of Object.keys(defaults)) {
    if (!(field in value)) notes.push(`run.json: "${field}" is missing; shown as ${shown(defaults[field])}`);
  }
  if (unknown.length) notes.push(`run.json: fields this version does not know (kept): ${unknown.join(', ')}`);
  return { meta: meta as unknown as RunMeta, notes };
}
