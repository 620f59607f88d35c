/** Text formatting shared by the CLI, the status bar and the runs view. */
import type { MetricRecord, RunMeta } from '../../contracts/run-directory';

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`;
}

export function progressBar(done: number, total: number, width: number): string {
  const filled = total > 0 ? Math.min(width, Math.round((done / total) * width)) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** Seconds left, from this trainer process's pace (a resumed run counts only its new steps). */
export function etaSeconds(meta: RunMeta, nowMs: number): number | undefined {
  const done = meta.step - meta.started_step;
  if (!meta.started_at || done <= 0) return undefined;
  const perStep = (nowMs / 1000 - meta.started_at) / done;
  return perStep * (meta.total_steps - meta.step);
}

/** A finished run's headline numbers, as label/value pairs (the dashboard header, the completion message). */
export function summaryItems(meta: RunMeta): { label: string; value: string }[] {
  const s = meta.summary;
  if (!s) return [];
  const n = s.bon_n;
  const items = [
    { label: 'reward', value: `policy ${s.reward_policy.toFixed(3)} · Best-of-${n} ${s.reward_bon.toFixed(3)} · reference ${s.reward_ref.toFixed(3)}` },
    { label: 'KL(π‖π_ref)', value: `${s.kl_policy_ref.toFixed(3)} nats (Best-of-${n} bound ${s.kl_bon_bound.toFixed(3)})` },
    { label: 'effective N', value: s.effective_n.toFixed(2) },
    { label: `win rate vs Best-of-${n}`, value: s.win_rate_vs_bon.toFixed(2) },
  ];
  if (meta.ended_at && meta.created_at) items.push({ label: 'since start', value: formatDuration(meta.ended_at - meta.created_at) });
  return items;
}

export function summaryLines(meta: RunMeta): string[] {
  const s = meta.summary;
  if (!s) return [`completed ${meta.step} steps`];
  const n = s.bon_n;
  return [
    `Summary after ${s.step} steps (held-out prompts):`,
    `  reward       reference ${s.reward_ref.toFixed(3)}   Best-of-${n} ${s.reward_bon.toFixed(3)}   policy ${s.reward_policy.toFixed(3)}`,
    `  KL(π‖π_ref)  ${s.kl_policy_ref.toFixed(3)} nats   (Best-of-${n}: log N − (N−1)/N = ${s.kl_bon_bound.toFixed(3)})`,
    `  effective N  ${s.effective_n.toFixed(2)}   win rate vs Best-of-${n} ${s.win_rate_vs_bon.toFixed(2)}`,
  ];
}

/**
 * The reward a row of the runs view shows: the last evaluation's (held-out prompts; every algorithm
 * has it) when there is one, else the latest training line's policy reward, else none.
 */
export function shownReward(latest: MetricRecord | undefined, latestEval: MetricRecord | undefined): { label: string; value: number } | undefined {
  const held = latestEval?.['eval/reward/policy'];
  if (typeof held === 'number' && Number.isFinite(held)) return { label: 'eval r', value: held };
  const train = latest?.['reward/policy'];
  return typeof train === 'number' && Number.isFinite(train) ? { label: 'r', value: train } : undefined;
}

/** The reward a live run's status bar shows: the training reward of the last step, which moves every
 * step; for an algorithm that writes none (BoNBoN), the last held-out evaluation's. */
export function liveReward(latest: MetricRecord | undefined, latestEval: MetricRecord | undefined): { label: string; value: number } | undefined {
  const train = latest?.['reward/policy'];
  if (typeof train === 'number' && Number.isFinite(train)) return { label: 'r', value: train };
  return shownReward(undefined, latestEval);
}

/** A run's start as a runs-view row says it: short and 24-hour ("Dec 1 14:05"), the year when not this one's. */
export function shortDate(seconds: number, nowMs: number = Date.now()): string {
  const date = new Date(seconds * 1000);
  const sameYear = date.getFullYear() === new Date(nowMs).getFullYear();
  const day = date.toLocaleString('en-US', { month: 'short', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }) });
  const time = `${String(date.getHours()).padStart(2, '0')}:${String(date.getMinutes()).padStart(2, '0')}`;
  return `${day} ${time}`;
}
