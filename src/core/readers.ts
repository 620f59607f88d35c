/**
 * The reader-side contract: what the editor requires of a line to use it. The trainer's own tests
 * hold it to the strict writer schema (contracts/schemas); the editor requires only the fields it
 * uses, keeps what it does not know (a newer trainer's metric, a user's own), and says why it
 * skipped a line instead of dropping it silently.
 */
import type { MetricRecord } from '../../contracts/run-directory';

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
  const record: MetricRecord = { kind: value.kind, step, time: typeof value.time === 'number' && Number.isFinite(value.time) ? value.time : 0 };
  for (const [key, field] of Object.entries(value)) {
    if (key === 'kind' || key === 'step' || key === 'time') continue;
    if (typeof field === 'number' && Number.isFinite(field)) record[key] = field;
    else if (key === 'bon_curve' && Array.isArray(field) && field.every((v) => typeof v === 'number' && Number.isFinite(v))) record.bon_curve = field as number[];
  }
  return record;
};
