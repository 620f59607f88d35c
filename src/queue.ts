/**
 * The run queue in the editor: *Queue Run* on a config adds it to the workspace's queue
 * (.bond/queue/queue.json), which the trainer's `queue` runner trains `bond.queue.workers` at a time
 * on `bond.queue.devices`; the runs view lists the waiting and training entries with their positions,
 * and Move Up / Move Down / Remove / Pause / Resume rewrite queue.json (the runner reads it before
 * every start). The queue's state is on disk: a window reload finds it as it was.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import * as vscode from 'vscode';
import { COMMANDS } from './commandIds';
import { runsDirectory, workspaceTrusted, type Services } from './commands';
import {
  moveEntry, newEntry, pending, queueDirectory, readQueue, readQueueState, runnerAlive, startable, writeQueue, type QueueEntry, type QueueFile,
} from './core/queueFiles';

/** The queue of the runs view: its folder, whether it is paused or has a runner, and its entries in order. */
export interface QueueGroup {
  kind: 'queue';
  folder: string;
  runsDir: string;
  paused: boolean;
  active: boolean;
  items: QueueItem[];
}

export interface QueueItem {
  kind: 'queueEntry';
  folder: string;
  runsDir: string;
  entry: QueueEntry;
  /** 1-based, among the entries still to train or training */
  position: number;
  /** queued, running, stopped (continued when the runner reaches it), failed */
  status: string;
  runDir: string | null;
}

export const isQueueGroup = (value: unknown): value is QueueGroup => typeof value === 'object' && value !== null && (value as QueueGroup).kind === 'queue';
export const isQueueItem = (value: unknown): value is QueueItem => typeof value === 'object' && value !== null && (value as QueueItem).kind === 'queueEntry';

/** The queue of a workspace as the runs view shows it; undefined when nothing waits or trains. */
export function queueGroup(runsDir: string): QueueGroup | undefined {
  const folder = queueDirectory(runsDir);
  const queue = readQueue(folder, runsDir);
  const state = readQueueState(folder);
  const entries = pending(queue, state);
  if (!entries.length) return undefined;
  return {
    kind: 'queue', folder, runsDir, paused: queue.paused, active: runnerAlive(state),
    items: entries.map((entry, index) => ({
      kind: 'queueEntry', folder, runsDir, entry, position: index + 1,
      status: state.entries[entry.id]?.status ?? 'queued', runDir: state.entries[entry.id]?.run_dir ?? null,
    })),
  };
}

function settings(): { workers: number; devices: string[] } {
  const config = vscode.workspace.getConfiguration('bond.queue');
  const workers = config.get<number>('workers', 1);
  return { workers: Number.isInteger(workers) && workers >= 1 ? workers : 1, devices: config.get<string[]>('devices', []).map(String) };
}

/** Rewrite queue.json: the settings as they are now, finished entries dropped, `change` applied to the rest. */
async function update(folder: string, runsDir: string, change: (queue: QueueFile) => Partial<QueueFile>): Promise<QueueFile> {
  const queue = readQueue(folder, runsDir);
  const current: QueueFile = { ...queue, ...settings(), runs_dir: runsDir, entries: pending(queue, readQueueState(folder)) };
  const next = { ...current, ...change(current) };
  await writeQueue(folder, next);
  return next;
}

/** the runners this window started, until they exit: one started a moment ago has not written its state yet */
const started = new Set<string>();

/** Start the queue's runner unless one is alive, the queue is paused, or nothing is left to start. */
async function ensureRunner(services: Services, folder: string, runsDir: string, cwd: string): Promise<void> {
  const queue = readQueue(folder, runsDir);
  const state = readQueueState(folder);
  if (queue.paused || started.has(folder) || runnerAlive(state) || !startable(queue, state).length) return;
  started.add(folder);
  const runner = await services.manager.startQueue(folder, cwd).catch((error: unknown) => {
    started.delete(folder);
    throw error;
  });
  const channel = services.runOutput(folder, 'run queue');
  channel.appendLine(`[${new Date().toLocaleTimeString()}] queue runner started, pid ${runner.pid}: ${folder}`);
  runner.output.event(({ text }) => channel.append(text));
  void runner.exited.then(({ code, stderrTail }) => {
    started.delete(folder);
    channel.appendLine(`[${new Date().toLocaleTimeString()}] queue runner exited ${code}`);
    // another window's (or process's) runner has the queue: it trains these entries too
    if (code === 2 && /already running it/.test(stderrTail)) return;
    if (code !== 0 && code !== null) void vscode.window.showErrorMessage(`BOND: the run queue stopped: ${stderrTail.trim().split('\n').slice(-2).join(' ')}`, 'Show Output')
      .then((choice) => choice && channel.show(true));
    void services.store.refresh();
  });
}

function configName(file: string): string {
  try {
    const parsed: unknown = parseJsonc(readFileSync(file, 'utf8'), [], { allowTrailingComma: true });
    const name = typeof parsed === 'object' && parsed !== null ? (parsed as { name?: unknown }).name : undefined;
    if (typeof name === 'string' && name.trim()) return name.trim();
  } catch {
    // the trainer names what is wrong when the entry runs
  }
  return basename(file).replace(/\.bond\.json$/, '');
}

async function queueRun(services: Services, argument?: unknown): Promise<void> {
  if (!workspaceTrusted()) return;
  const active = vscode.window.activeTextEditor?.document;
  const uri = argument instanceof vscode.Uri ? argument
    : active?.fileName.endsWith('.bond.json') ? active.uri : (await vscode.window.showOpenDialog({ filters: { 'BOND config': ['json'] }, canSelectMany: false }))?.[0];
  if (!uri) return;
  const workspace = vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
  if (!workspace) return;
  const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (document?.isDirty) await document.save();
  const runsDir = runsDirectory(workspace);
  const folder = queueDirectory(runsDir);
  const next = await update(folder, runsDir, (queue) => ({ entries: [...queue.entries, newEntry(uri.fsPath, configName(uri.fsPath))] }));
  try {
    await ensureRunner(services, folder, runsDir, workspace.uri.fsPath);
  } catch (error) {
    void vscode.window.showErrorMessage(`BOND: ${(error as Error).message}`);
    return;
  }
  void vscode.window.showInformationMessage(`BOND: ${basename(uri.fsPath)} queued at position ${next.entries.length}${next.paused ? ' (the queue is paused)' : ''}.`);
  void services.store.refresh();
}

async function edit(services: Services, item: unknown, change: (queue: QueueFile, entry: QueueItem) => Partial<QueueFile>): Promise<void> {
  if (!isQueueItem(item)) {
    void vscode.window.showInformationMessage('BOND: this works on an entry of the queue in the runs view.');
    return;
  }
  await update(item.folder, item.runsDir, (queue) => change(queue, item));
  void services.store.refresh();
}

async function removeEntry(services: Services, item: unknown): Promise<void> {
  if (isQueueItem(item) && item.status === 'running') {
    const choice = await vscode.window.showWarningMessage(`BOND: ${item.entry.name} is training. Stop it (a checkpoint) and remove it from the queue?`, { modal: true }, 'Stop and Remove');
    if (choice !== 'Stop and Remove') return;
  }
  await edit(services, item, (queue, entry) => ({ entries: queue.entries.filter((e) => e.id !== entry.entry.id) }));
}

async function setPaused(services: Services, argument: unknown, paused: boolean): Promise<void> {
  if (!paused && !workspaceTrusted()) return;
  const workspace = vscode.workspace.workspaceFolders?.[0];
  const runsDir = isQueueGroup(argument) ? argument.runsDir : workspace ? runsDirectory(workspace) : undefined;
  if (!runsDir || !workspace) return;
  const folder = queueDirectory(runsDir);
  await update(folder, runsDir, () => ({ paused }));
  if (!paused) await ensureRunner(services, folder, runsDir, workspace.uri.fsPath);
  void vscode.window.showInformationMessage(paused ? 'BOND: queue paused (what trains goes on; nothing new starts).' : 'BOND: queue resumed.');
  void services.store.refresh();
}

export function registerQueue(services: Services): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(COMMANDS.queueRun, (argument?: unknown) => queueRun(services, argument)),
    vscode.commands.registerCommand(COMMANDS.queueMoveUp, (item?: unknown) => edit(services, item, (q, e) => ({ entries: moveEntry(q.entries, e.entry.id, -1) }))),
    vscode.commands.registerCommand(COMMANDS.queueMoveDown, (item?: unknown) => edit(services, item, (q, e) => ({ entries: moveEntry(q.entries, e.entry.id, 1) }))),
    vscode.commands.registerCommand(COMMANDS.queueRemove, (item?: unknown) => removeEntry(services, item)),
    vscode.commands.registerCommand(COMMANDS.queuePause, (argument?: unknown) => setPaused(services, argument, true)),
    vscode.commands.registerCommand(COMMANDS.queueResume, (argument?: unknown) => setPaused(services, argument, false)),
  ];
}
