/** The samples table's rows: derived numbers, sort, filter and search. Pure (Node tests run it). */
import type { SampleRecord, ScoredText } from '../../contracts/run-directory';
import type { SampleFilter, SampleKey, SampleSort } from '../../contracts/webviews/samples';

const mean = (values: number[]): number => (values.length ? values.reduce((a, b) => a + b, 0) / values.length : NaN);

export const policyReward = (record: SampleRecord): number => mean(record.policy.map((s) => s.reward));

/** policy minus Best-of-N reward: > 0 where the policy's samples beat the Best-of-N pick on average */
export const gapToBon = (record: SampleRecord): number => policyReward(record) - record.bon.best.reward;

/** the prompt's share of KL(π ‖ π_ref): the mean of log π(y) − log π_ref(y) over the policy samples */
export const klContribution = (record: SampleRecord): number => mean(record.policy.map((s) => s.logp_policy - s.logp_ref));

export const isTruncated = (record: SampleRecord): boolean =>
  [...record.policy, ...record.anchor, record.bon.best].some((s: ScoredText) => s.truncated === true);

export const keyOf = (record: SampleRecord): SampleKey => ({ step: record.step, promptId: record.prompt_id });

const haystacks = new WeakMap<SampleRecord, string>();
/** The texts a row shows, which search looks in: the prompt, the policy's first sample, the
 * anchor's first and Best-of-N's pick (the other samples are read with Enter, not searched). */
export function shownTexts(record: SampleRecord): string[] {
  return [record.prompt, record.policy[0]?.text ?? '', record.anchor[0]?.text ?? '', record.bon.best.text];
}

function haystack(record: SampleRecord): string {
  let text = haystacks.get(record);
  if (text === undefined) {
    text = shownTexts(record).join('\u0000').toLowerCase();
    haystacks.set(record, text);
  }
  return text;
}

export interface RowQuery {
  /** null: every step */
  step: number | null;
  promptId: number | null;
  filter: SampleFilter;
  search: string;
  sort: SampleSort;
  descending: boolean;
}

const SORT_KEYS: Record<SampleSort, (record: SampleRecord) => number> = {
  prompt: (record) => record.prompt_id,
  reward: policyReward,
  gap: gapToBon,
  kl: klContribution,
};

export function selectRows(records: readonly SampleRecord[], query: RowQuery): SampleRecord[] {
  const needle = query.search.trim().toLowerCase();
  const rows = records.filter((record) => {
    if (query.promptId !== null) {
      if (record.prompt_id !== query.promptId) return false;
    } else if (query.step !== null && record.step !== query.step) return false;
    if (query.filter === 'beats' && !(gapToBon(record) > 0)) return false;
    if (query.filter === 'loses' && !(gapToBon(record) < 0)) return false;
    if (query.filter === 'truncated' && !isTruncated(record)) return false;
    return needle === '' || haystack(record).includes(needle);
  });
  const key = SORT_KEYS[query.sort];
  const sign = query.descending ? -1 : 1;
  // stable tie-break: step, then prompt; NaN sorts last either way
  return rows.map((record) => ({ record, k: key(record) })).sort((a, b) => {
    const an = Number.isNaN(a.k);
    const bn = Number.isNaN(b.k);
    if (an !== bn) return an ? 1 : -1;
    return (a.k === b.k || (an && bn) ? 0 : sign * (a.k - b.k)) || a.record.step - b.record.step || a.record.prompt_id - b.record.prompt_id;
  }).map((entry) => entry.record);
}

/** distinct snapshot steps, ascending */
export function stepsOf(records: readonly SampleRecord[]): number[] {
  return [...new Set(records.map((record) => record.step))].sort((a, b) => a - b);
}
