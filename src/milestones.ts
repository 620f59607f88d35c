/**
 * The getting-started walkthrough's steps complete on real events, not on clicks: the environment
 * resolved with torch, a demo workspace made, a run started, a dashboard and a samples view opened,
 * a playground try answered. Each sets a context key (`bond.walkthrough.<milestone>`) that the
 * walkthrough's completionEvents name in package.json.
 */
export const MILESTONES = ['environment', 'demoWorkspace', 'runStarted', 'dashboard', 'samples', 'playground'] as const;
export type Milestone = (typeof MILESTONES)[number];

export const milestoneContextKey = (milestone: Milestone): string => `bond.walkthrough.${milestone}`;

let sink: ((milestone: Milestone) => void) | undefined;
const reached = new Set<Milestone>();

/** Where milestones go (the extension sets the context keys); those reached before it was set go to it at once. */
export function onMilestone(listener: (milestone: Milestone) => void): void {
  sink = listener;
  for (const milestone of reached) listener(milestone);
}

/** Say that a milestone happened; each reaches the sink once per session. */
export function reach(milestone: Milestone): void {
  if (reached.has(milestone)) return;
  reached.add(milestone);
  sink?.(milestone);
}
