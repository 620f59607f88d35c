/** What to say when a run ends (the notification's text): pure, for the extension and its tests. */
import { summaryItems } from './format';
import { runLabel, type RunState } from './runStore';

const LIVE = new Set(['starting', 'running']);

/** What to say when a run's status moves from `before` to `now`, or undefined. */
export function endingMessage(run: Pick<RunState, 'status' | 'meta' | 'label' | 'annotations'>, before: string | undefined): { text: string; error: boolean } | undefined {
  if (!before || !LIVE.has(before) || LIVE.has(run.status)) return undefined;
  const name = runLabel(run);
  if (run.status === 'completed') {
    const items = summaryItems(run.meta).map((item) => `${item.label} ${item.value}`);
    return { text: `BOND run ${name} completed ${run.meta.step} steps${items.length ? `: ${items.join('; ')}` : ''}.`, error: false };
  }
  if (run.status === 'failed' || run.status === 'lost') {
    const reason = run.meta.error?.message ?? (run.status === 'lost' ? 'the trainer stopped answering (no heartbeat, process gone)' : 'no reason recorded');
    return { text: `BOND run ${name} ${run.status === 'lost' ? 'was lost' : 'failed'} at step ${run.meta.step}: ${reason}`, error: true };
  }
  return undefined;
}

