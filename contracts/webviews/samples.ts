/**
 * The samples webview's message contract (one panel per run). Host → webview messages carry a
 * sequence number; see SequenceTracker in ./guards.
 */
import type { SampleRecord } from '../run-directory';
import type { SkippedLines } from './dashboard';
import { isNonNegativeInteger, isObject, parseWith, type Parsed } from './guards';

export interface SamplesRun {
  dir: string;
  name: string;
  status: string;
  step: number;
  totalSteps: number;
  bonN: number;
}

/** One row of the table: a prompt at a snapshot step. */
export interface SampleKey {
  step: number;
  promptId: number;
}

export type HostToSamples =
  | { type: 'snapshot'; seq: number; run: SamplesRun; records: SampleRecord[] }
  | { type: 'append'; seq: number; records: SampleRecord[] }
  | { type: 'run'; seq: number; run: SamplesRun }
  /** select and scroll to a row (the side panel's previous/next, or "open in samples view") */
  | { type: 'reveal'; seq: number; key: SampleKey }
  /** lines of samples.jsonl the editor could not use (empty: none); replaces the previous report */
  | { type: 'skipped'; seq: number; skipped: SkippedLines[] }
  /** show the snapshot nearest this step (a dashboard chart was clicked) */
  | { type: 'showStep'; seq: number; step: number };

export type SamplesCommand = 'openDashboard' | 'stop' | 'resume';
export const SAMPLES_COMMANDS: readonly SamplesCommand[] = ['openDashboard', 'stop', 'resume'];

export type SamplesToHost =
  | { type: 'ready' }
  | { type: 'requestSnapshot'; reason: string }
  /** the row under focus changed: the side panel follows it */
  | { type: 'focus'; key: SampleKey; order: SampleKey[] }
  | { type: 'command'; command: SamplesCommand }
  /** open the run's samples.jsonl in an editor at a line (the first skipped one) */
  | { type: 'openSamplesFile'; line: number }
  /** the snapshot step the view shows now (null: all steps): the dashboards mark it */
  | { type: 'stepShown'; step: number | null };

export type SampleSort = 'prompt' | 'reward' | 'gap' | 'kl';
export type SampleFilter = 'all' | 'beats' | 'loses' | 'truncated';
export const SAMPLE_SORTS: readonly SampleSort[] = ['prompt', 'reward', 'gap', 'kl'];
export const SAMPLE_FILTERS: readonly SampleFilter[] = ['all', 'beats', 'loses', 'truncated'];

export interface SamplesState {
  dir: string;
  /** the snapshot step shown; null shows every step */
  step: number | null;
  followLatest: boolean;
  sort: SampleSort;
  descending: boolean;
  filter: SampleFilter;
  search: string;
  /** follow one prompt across steps */
  promptId: number | null;
  focus: SampleKey | null;
}

const MAX_ORDER = 200_000;

export function parseSampleKey(value: unknown): SampleKey | undefined {
  if (!isObject(value) || !isNonNegativeInteger(value.step) || !isNonNegativeInteger(value.promptId)) return undefined;
  return { step: value.step, promptId: value.promptId };
}

export function parseSamplesMessage(value: unknown): Parsed<SamplesToHost> {
  return parseWith<SamplesToHost>(value, {
    ready: () => ({ type: 'ready' }),
    openSamplesFile: (m) => (typeof m.line === 'number' && Number.isInteger(m.line) && m.line >= 1
      ? { type: 'openSamplesFile', line: m.line } : 'line must be a whole number ≥ 1'),
    stepShown: (m) => (m.step === null || isNonNegativeInteger(m.step) ? { type: 'stepShown', step: m.step } : 'step must be a whole number ≥ 0 or null'),
    requestSnapshot: (m) => ({ type: 'requestSnapshot', reason: typeof m.reason === 'string' ? m.reason.slice(0, 200) : '' }),
    focus: (m) => {
      const key = parseSampleKey(m.key);
      if (!key) return 'key must be {step, promptId} with non-negative integers';
      if (!Array.isArray(m.order) || m.order.length > MAX_ORDER) return `order must be an array of at most ${MAX_ORDER} keys`;
      const order: SampleKey[] = [];
      for (const item of m.order) {
        const parsed = parseSampleKey(item);
        if (!parsed) return 'order must hold {step, promptId} keys';
        order.push(parsed);
      }
      return { type: 'focus', key, order };
    },
    command: (m) => SAMPLES_COMMANDS.includes(m.command as SamplesCommand)
      ? { type: 'command', command: m.command as SamplesCommand }
      : `command must be one of ${SAMPLES_COMMANDS.join(', ')}`,
  }, 'samples');
}

export function parseSamplesState(value: unknown): SamplesState | undefined {
  if (!isObject(value) || typeof value.dir !== 'string' || !value.dir) return undefined;
  return {
    dir: value.dir,
    step: isNonNegativeInteger(value.step) ? value.step : null,
    followLatest: value.followLatest !== false,
    sort: SAMPLE_SORTS.includes(value.sort as SampleSort) ? value.sort as SampleSort : 'prompt',
    descending: value.descending === true,
    filter: SAMPLE_FILTERS.includes(value.filter as SampleFilter) ? value.filter as SampleFilter : 'all',
    search: typeof value.search === 'string' ? value.search.slice(0, 500) : '',
    promptId: isNonNegativeInteger(value.promptId) ? value.promptId : null,
    focus: parseSampleKey(value.focus) ?? null,
  };
}

export const isSameKey = (a: SampleKey, b: SampleKey): boolean => a.step === b.step && a.promptId === b.promptId;
