/** The Runs tree in the BOND container: one item per run, refreshed from the run store. */
import { basename } from 'node:path';
import * as vscode from 'vscode';
import { canResume } from '../contracts/run-directory';
import { runLabel, type RunState } from './core/runStore';
import { formatDuration, shortDate, shownReward } from './core/format';
import type { RunStore } from './core/runStore';
import { COMMANDS } from './commandIds';
import { groupBySweep, isSweepGroup, sweepFolderOf, sweepGroupAt, sweepProgress, type SweepGroup } from './core/sweepFolders';
import { isQueueGroup, isQueueItem, queueGroup, type QueueGroup, type QueueItem } from './queue';

const ICONS: Record<string, [string, string | undefined]> = {
  starting: ['loading~spin', undefined],
  running: ['sync~spin', 'charts.blue'],
  completed: ['pass', 'testing.iconPassed'],
  stopped: ['debug-pause', 'charts.yellow'],
  pruned: ['debug-step-out', 'charts.purple'],
  failed: ['error', 'testing.iconFailed'],
  lost: ['question', 'charts.orange'],
};
/** a status a newer trainer wrote that this version does not know */
const UNKNOWN_STATUS_ICON: [string, string | undefined] = ['circle-outline', undefined];


/** contextValue words used by package.json menus: run, running, resumable, extendable, ended. */
export function contextValue(run: RunState): string {
  const words = ['run'];
  if (run.status === 'running' || run.status === 'starting') words.push('running');
  if (canResume(run.status)) words.push('resumable');
  if (run.status === 'completed') words.push('extendable');
  if (run.status !== 'running' && run.status !== 'starting') words.push('ended');
  return words.join(' ');
}

type RunsItem = RunState | SweepGroup | QueueGroup | QueueItem;

export class RunsView implements vscode.TreeDataProvider<RunsItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsItem | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscriptions: { dispose(): void }[] = [];

  /** runs the tree has been given: only these can be refreshed one by one */
  private readonly shown = new Set<string>();

  /** one object per sweep folder for as long as it is listed: VS Code finds a row's element by it,
   * so a row refreshed alone (a trial's step) keeps its actions and clicks bound to the same sweep */
  private readonly groups = new Map<string, SweepGroup>();
  /** each sweep's progress line as its row last showed it */
  private readonly progressShown = new Map<string, string>();

  /** the queue as last listed (its files' contents): the view refreshes when they change */
  private queueShown = '';

  constructor(private readonly store: RunStore, private readonly runsDirectories: () => string[] = () => []) {
    // The store keeps RunState objects stable, so an update refreshes only the items that changed
    // (a trial's row and its sweep's progress line); a run the tree has not shown yet needs the root
    // refreshed (VS Code ignores unknown elements).
    this.subscriptions.push(
      store.onDidChangeRuns((runs) => {
        if (runs.length > 3 || runs.some((r) => !this.shown.has(r.dir))) {
          this.changed.fire(undefined);
          return;
        }
        const sweeps = new Set<SweepGroup>();
        for (const run of runs) {
          this.changed.fire(run);
          const folder = sweepFolderOf(run);
          const group = folder ? this.groups.get(folder) : undefined;
          if (group) sweeps.add(group);
        }
        // a sweep's row changes only when its progress line does (a trial's step leaves it alone, so
        // its inline actions are not re-rendered under the pointer at every step)
        sweeps.forEach((group) => {
          const line = sweepProgress(group);
          if (this.progressShown.get(group.folder) !== line) this.changed.fire(group);
        });
      }),
      store.onDidRemoveRuns(() => this.changed.fire(undefined)),
    );
    // A sweep's own process (not a run) says in sweep.json whether it lives: its row follows it
    // (Stop Sweep ends it some seconds after its trials have stopped, with no run changing then).
    const timer = setInterval(() => {
      // the queue's files change with no run changing (an entry queued, moved, paused; the runner's state)
      if (this.queueKey() !== this.queueShown) this.changed.fire(undefined);
      for (const group of this.groups.values()) {
        const now = sweepGroupAt(group.folder, group.runs, group.name);
        if (now.active !== group.active || now.status !== group.status || now.sweepFile !== group.sweepFile) {
          Object.assign(group, { active: now.active, status: now.status, sweepFile: now.sweepFile });
          this.changed.fire(group);
        }
      }
    }, 2_000);
    this.subscriptions.push({ dispose: () => clearInterval(timer) });
  }

  private queues(): QueueGroup[] {
    return this.runsDirectories().map(queueGroup).filter((q): q is QueueGroup => q !== undefined);
  }

  private queueKey(): string {
    return JSON.stringify(this.queues().map((q) => [q.paused, q.active, q.items.map((i) => [i.entry.id, i.status, i.runDir])]));
  }

  getChildren(element?: RunsItem): RunsItem[] {
    if (isQueueGroup(element)) return element.items;
    if (element) return isSweepGroup(element) ? element.runs : [];
    const queues = this.queues();
    this.queueShown = JSON.stringify(queues.map((q) => [q.paused, q.active, q.items.map((i) => [i.entry.id, i.status, i.runDir])]));
    const runs = this.store.runs;
    this.shown.clear();
    runs.forEach((r) => this.shown.add(r.dir));
    const items = groupBySweep(runs).map((item) => {
      if (!isSweepGroup(item)) return item;
      const kept = this.groups.get(item.folder);
      if (!kept) return item;
      Object.assign(kept, { name: item.name, active: item.active, status: item.status, sweepFile: item.sweepFile, runs: item.runs });
      return kept;
    });
    this.groups.clear();
    for (const item of items) if (isSweepGroup(item)) this.groups.set(item.folder, item);
    return [...queues, ...items];
  }

  getTreeItem(element: RunsItem): vscode.TreeItem {
    if (isQueueGroup(element)) return queueGroupItem(element);
    if (isQueueItem(element)) return queueEntryItem(element);
    return isSweepGroup(element) ? sweepItem(element, this.progressShown) : this.runItem(element);
  }

  private runItem(run: RunState): vscode.TreeItem {
    const item = new vscode.TreeItem(runLabel(run), vscode.TreeItemCollapsibleState.None);
    item.id = run.dir;
    const [icon, color] = ICONS[run.status] ?? UNKNOWN_STATUS_ICON;
    item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
    const reward = shownReward(run.latest, run.latestEval);
    // what matters first, as a narrow sidebar cuts from the right: status, reward, progress; the date
    // only when the label does not carry it already (runs of the same name are told apart by it)
    const parts = [`${run.status}`];
    if (reward) parts.push(`${reward.label} ${reward.value.toFixed(3)}`);
    parts.push(`${run.meta.step}/${run.meta.total_steps}`);
    if (run.meta.world_size && run.meta.world_size > 1) parts.push(`×${run.meta.world_size}`);
    if (run.annotations?.tags?.length) parts.push(run.annotations.tags.map((t) => `#${t}`).join(' '));
    // a label made distinct from its namesakes ends with the start time already
    if (runLabel(run) === (run.annotations?.label ?? run.meta.name)) parts.push(shortDate(run.meta.created_at));
    item.description = `${run.readProblem ? '⚠ ' : ''}${parts.join(' · ')}`;
    item.tooltip = tooltip(run);
    item.contextValue = contextValue(run);
    item.resourceUri = vscode.Uri.file(run.dir);
    item.command = { title: 'Open Dashboard', command: COMMANDS.openDashboard, arguments: [run] };
    return item;
  }

  dispose(): void {
    this.changed.dispose();
    this.subscriptions.forEach((s) => s.dispose());
  }
}

/** The queue's row: what waits and trains, and whether it is paused. */
function queueGroupItem(queue: QueueGroup): vscode.TreeItem {
  const item = new vscode.TreeItem('Queue', vscode.TreeItemCollapsibleState.Expanded);
  item.id = `queue:${queue.folder}`;
  const running = queue.items.filter((i) => i.status === 'running').length;
  const waiting = queue.items.filter((i) => i.status === 'queued' || i.status === 'stopped').length;
  item.iconPath = new vscode.ThemeIcon(queue.paused ? 'debug-pause' : 'list-ordered', running ? new vscode.ThemeColor('charts.blue') : undefined);
  item.description = `${queue.paused ? 'paused · ' : ''}${running} running · ${waiting} waiting`;
  item.contextValue = `queue ${queue.paused ? 'queuePaused' : 'queueRunning'}`;
  item.tooltip = `The run queue (${queue.folder}): entries train in this order, bond.queue.workers at a time.`;
  return item;
}

/** An entry of the queue: its position, its config, and what it is doing. */
function queueEntryItem(entry: QueueItem): vscode.TreeItem {
  const item = new vscode.TreeItem(`${entry.position}. ${entry.entry.name}`, vscode.TreeItemCollapsibleState.None);
  item.id = `queue:${entry.folder}:${entry.entry.id}`;
  const [icon, color] = entry.status === 'queued' ? ['clock', undefined] : ICONS[entry.status] ?? UNKNOWN_STATUS_ICON;
  item.iconPath = new vscode.ThemeIcon(icon, color ? new vscode.ThemeColor(color) : undefined);
  item.description = `${entry.status === 'stopped' ? 'stopped · continues when its turn comes' : entry.status} · ${basename(entry.entry.config)}`;
  item.contextValue = `queueEntry queueEntry-${entry.status}`;
  item.tooltip = `${entry.entry.config}${entry.entry.overrides.length ? `\n--set ${entry.entry.overrides.join(' --set ')}` : ''}${entry.runDir ? `\n${entry.runDir}` : ''}`;
  item.resourceUri = vscode.Uri.file(entry.entry.config);
  item.command = { title: 'Open Config', command: 'vscode.open', arguments: [vscode.Uri.file(entry.entry.config)] };
  return item;
}

/** A sweep's row: its name, its trials' progress; expanded, its runs (a trial's seeds) under it. */
function sweepItem(group: SweepGroup, progressShown?: Map<string, string>): vscode.TreeItem {
  progressShown?.set(group.folder, sweepProgress(group));
  const item = new vscode.TreeItem(group.name, vscode.TreeItemCollapsibleState.Expanded);
  item.id = `sweep:${group.folder}`;
  item.iconPath = new vscode.ThemeIcon(group.active ? 'beaker~spin' : 'beaker', group.active ? new vscode.ThemeColor('charts.blue') : undefined);
  item.description = `sweep · ${group.active ? 'running · ' : ''}${sweepProgress(group)}`;
  // a completed sweep has nothing to resume (Open Sweep View's Add trials continues a sampled one)
  item.contextValue = `sweep ${group.active ? 'sweepActive' : group.status === 'completed' ? 'sweepDone' : 'sweepStopped'}`;
  item.resourceUri = vscode.Uri.file(group.folder);
  const tip = new vscode.MarkdownString(undefined, false);
  tip.isTrusted = false;
  tip.appendMarkdown(`**sweep ${escape(group.name)}** — ${group.runs.length} run(s): ${escape(sweepProgress(group))}\n\n${escape(group.folder)}`);
  item.tooltip = tip;
  return item;
}

function tooltip(run: RunState): vscode.MarkdownString {
  const m = run.meta;
  const text = new vscode.MarkdownString(undefined, false);
  text.isTrusted = false;
  text.appendMarkdown(`**${escape(runLabel(run))}** — ${m.algorithm}, ${run.status}\n\n`);
  if (run.annotations?.label && run.annotations.label !== m.name) text.appendMarkdown(`run.json name: ${escape(m.name)}\n\n`);
  if (run.annotations?.note) text.appendMarkdown(`note: ${escape(run.annotations.note)}\n\n`);
  if (run.annotations?.tags?.length) text.appendMarkdown(`tags: ${run.annotations.tags.map((t) => escape(`#${t}`)).join(' ')}\n\n`);
  const world = m.world_size && m.world_size > 1 ? ` × ${m.world_size} processes (torchrun)` : '';
  text.appendMarkdown(`step ${m.step} of ${m.total_steps} · ${escape(m.device)}${world} · ${escape(basename(run.dir))}\n\n`);
  if (m.model) text.appendMarkdown(`model: ${escape(m.model)}\n\n`);
  if (m.started_at) text.appendMarkdown(`running time ${formatDuration((m.ended_at ?? Date.now() / 1000) - m.started_at)}\n\n`);
  if (m.summary) {
    const s = m.summary;
    text.appendMarkdown(`reward: policy ${s.reward_policy.toFixed(3)}, Best-of-${s.bon_n} ${s.reward_bon.toFixed(3)}, `
      + `reference ${s.reward_ref.toFixed(3)} · effective N ${s.effective_n.toFixed(2)}\n\n`);
  }
  if (m.error) text.appendMarkdown(`error: ${escape(m.error.message)}\n\n`);
  if (run.status === 'lost') text.appendMarkdown('The trainer stopped answering (no heartbeat, process gone). Resume continues from its last checkpoint.\n\n');
  if (run.skippedLines) text.appendMarkdown(`${run.skippedLines} unreadable metric line(s) skipped\n\n`);
  for (const note of run.metaNotes) text.appendMarkdown(`${escape(note)}\n\n`);
  if (run.readProblem) text.appendMarkdown(`⚠ ${escape(run.readProblem)}\n\n`);
  return text;
}

/** Text from files is untrusted: escape Markdown so it stays text. */
function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!<>|~]/g, '\\$&');
}
