/**
 * The run queue's files as the editor keeps them (no VS Code here). The editor is the only writer of
 * queue.json (contracts/schemas/queue.schema.json: the entries in order, workers, devices, paused);
 * the trainer's `queue` runner is the only writer of queue-state.json (what became of each entry).
 * Both live in `.bond/queue`, beside the runs directory, so the queue survives window reloads.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isPidAlive } from './process';

export const QUEUE_FILE = 'queue.json';
export const QUEUE_STATE_FILE = 'queue-state.json';

export interface QueueEntry {
  id: string;
  config: string;
  name: string;
  overrides: string[];
  added_at: number;
}

export interface QueueFile {
  format_version: 1;
  workers: number;
  devices: string[];
  paused: boolean;
  runs_dir: string;
  entries: QueueEntry[];
}

export interface QueueEntryState {
  status: string;
  run_dir: string | null;
  started_at: number | null;
}

export interface QueueState {
  pid: number;
  status: string;
  entries: Record<string, QueueEntryState>;
}

/** Where a workspace's queue lives: `queue` beside the runs directory (.bond/queue by default). */
export function queueDirectory(runsDirectory: string): string {
  return join(dirname(runsDirectory), 'queue');
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** queue.json, or an empty queue (none yet, or unreadable: the next write makes it whole again). */
export function readQueue(folder: string, runsDirectory: string): QueueFile {
  const raw = readJson(join(folder, QUEUE_FILE));
  const empty: QueueFile = { format_version: 1, workers: 1, devices: [], paused: false, runs_dir: runsDirectory, entries: [] };
  if (!isObject(raw) || !Array.isArray(raw.entries)) return empty;
  const entries = raw.entries.filter(isObject).filter((e) => typeof e.id === 'string' && typeof e.config === 'string').map((e): QueueEntry => ({
    id: e.id as string, config: e.config as string, name: typeof e.name === 'string' && e.name ? e.name : 'bond-run',
    overrides: Array.isArray(e.overrides) ? e.overrides.filter((o): o is string => typeof o === 'string') : [],
    added_at: typeof e.added_at === 'number' ? e.added_at : 0,
  }));
  return { ...empty, paused: raw.paused === true, entries };
}

/** queue-state.json as the runner last wrote it; an entry it has not started has no record. */
export function readQueueState(folder: string): QueueState {
  const raw = readJson(join(folder, QUEUE_STATE_FILE));
  if (!isObject(raw)) return { pid: 0, status: 'none', entries: {} };
  const entries: Record<string, QueueEntryState> = {};
  if (isObject(raw.entries)) {
    for (const [id, value] of Object.entries(raw.entries)) {
      if (!isObject(value)) continue;
      entries[id] = { status: typeof value.status === 'string' ? value.status : 'unknown', run_dir: typeof value.run_dir === 'string' ? value.run_dir : null,
        started_at: typeof value.started_at === 'number' ? value.started_at : null };
    }
  }
  return { pid: typeof raw.pid === 'number' ? raw.pid : 0, status: typeof raw.status === 'string' ? raw.status : 'unknown', entries };
}

/** The runner is alive (it said running or stopping, and its process exists). */
export function runnerAlive(state: QueueState): boolean {
  return (state.status === 'running' || state.status === 'stopping') && state.pid > 0 && isPidAlive(state.pid);
}

/** Entries a runner would still start: not begun, or stopped (continued from their checkpoint). */
export function startable(queue: QueueFile, state: QueueState): QueueEntry[] {
  return queue.entries.filter((entry) => {
    const status = state.entries[entry.id]?.status;
    return status === undefined || status === 'stopped';
  });
}

/** The queue with finished entries (completed) left out: what the editor writes back, what the runs view lists. */
export function pending(queue: QueueFile, state: QueueState): QueueEntry[] {
  return queue.entries.filter((entry) => state.entries[entry.id]?.status !== 'completed');
}

export function newEntry(config: string, name: string, overrides: string[] = [], now = Date.now()): QueueEntry {
  return { id: `q${now.toString(36)}-${randomBytes(3).toString('hex')}`, config, name, overrides, added_at: now / 1000 };
}

/** Move an entry by `delta` places (−1 up, +1 down), within bounds. */
export function moveEntry(entries: readonly QueueEntry[], id: string, delta: number): QueueEntry[] {
  const from = entries.findIndex((e) => e.id === id);
  if (from < 0) return [...entries];
  const to = Math.max(0, Math.min(entries.length - 1, from + delta));
  const next = [...entries];
  const [moved] = next.splice(from, 1);
  next.splice(to, 0, moved!);
  return next;
}

/** queue.json, atomically (a temporary file renamed over it), whole: the runner never reads half a file. */
export async function writeQueue(folder: string, queue: QueueFile): Promise<void> {
  await fs.mkdir(folder, { recursive: true });
  const temp = join(folder, `.${QUEUE_FILE}.${process.pid}.tmp`);
  await fs.writeFile(temp, JSON.stringify(queue, null, 1), 'utf8');
  await fs.rename(temp, join(folder, QUEUE_FILE));
}
