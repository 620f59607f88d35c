/**
 * Sweep folders as the editor reads them (no VS Code here): where a workspace's sweeps live, the
 * runs folder of each (watched by the run store like the runs directory), sweep.json read leniently,
 * and runs grouped under their sweeps for the runs view.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import type { RunState } from './runStore';
import { isPidAlive } from './process';

export const SWEEP_GLOB = '**/*.sweep.json';
export const SWEEP_RECORD = 'sweep.json';
const SWEEP_RUNS = 'runs';

/** Where a workspace's sweeps go: `sweeps` beside the runs directory (.bond/sweeps by default). */
export function sweepsDirectory(runsDirectory: string): string {
  return join(dirname(runsDirectory), 'sweeps');
}

/** The runs folder of every sweep under `sweeps` (read at each pass of the run store: sweeps come and go). */
export function sweepRunsDirectories(sweeps: string): string[] {
  try {
    return readdirSync(sweeps, { withFileTypes: true }).filter((entry) => entry.isDirectory())
      .map((entry) => join(sweeps, entry.name, SWEEP_RUNS)).filter((dir) => existsSync(dir));
  } catch {
    return []; // no sweeps yet
  }
}

/** A sweep as the runs view shows it: its folder, its record (when readable), and its runs. */
export interface SweepGroup {
  kind: 'sweep';
  folder: string;
  name: string;
  /** the sweep process that last ran it is alive */
  active: boolean;
  /** sweep.json's status (running, completed, stopped); null when unreadable */
  status: string | null;
  sweepFile: string | null;
  runs: RunState[];
}

export function isSweepGroup(value: unknown): value is SweepGroup {
  return typeof value === 'object' && value !== null && (value as SweepGroup).kind === 'sweep' && typeof (value as SweepGroup).folder === 'string';
}

interface SweepRecord {
  name?: unknown;
  status?: unknown;
  pid?: unknown;
  sweep_file?: unknown;
}

export function readRecord(folder: string): SweepRecord | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(join(folder, SWEEP_RECORD), 'utf8'));
    return typeof value === 'object' && value !== null ? value as SweepRecord : undefined;
  } catch {
    return undefined; // being written, or not yet: the folder's name stands in
  }
}

/** The sweep folder a run belongs to: run.json's sweep.folder, else the folder above its `runs`. */
export function sweepFolderOf(run: RunState): string | undefined {
  const recorded = run.meta.sweep?.folder;
  if (typeof recorded === 'string' && recorded) return recorded;
  const parent = dirname(run.dir);
  return run.meta.sweep && basename(parent) === SWEEP_RUNS ? dirname(parent) : undefined;
}

/** Runs grouped under their sweeps (in the order of their newest run), and the runs of no sweep. */
export function groupBySweep(runs: readonly RunState[]): (RunState | SweepGroup)[] {
  const groups = new Map<string, SweepGroup>();
  const items: (RunState | SweepGroup)[] = [];
  for (const run of runs) {
    const folder = sweepFolderOf(run);
    if (!folder) {
      items.push(run);
      continue;
    }
    let group = groups.get(folder);
    if (!group) {
      group = sweepGroupAt(folder, [], run.meta.sweep?.name);
      groups.set(folder, group);
      items.push(group);
    }
    group.runs.push(run);
  }
  return items;
}

/** The sweep of a folder as its sweep.json says now (the name falls back to `name`, then the folder's). */
export function sweepGroupAt(folder: string, runs: RunState[], name?: string): SweepGroup {
  const record = readRecord(folder);
  const pid = typeof record?.pid === 'number' ? record.pid : 0;
  return {
    kind: 'sweep', folder, name: typeof record?.name === 'string' ? record.name : name ?? basename(folder),
    active: record?.status === 'running' && pid > 0 && isPidAlive(pid),
    status: typeof record?.status === 'string' ? record.status : null,
    sweepFile: typeof record?.sweep_file === 'string' ? record.sweep_file : null, runs,
  };
}

/** The sweep folders under `sweeps` that hold a sweep.json. */
export function sweepFolders(sweeps: string): string[] {
  try {
    return readdirSync(sweeps, { withFileTypes: true }).filter((entry) => entry.isDirectory())
      .map((entry) => join(sweeps, entry.name)).filter((dir) => existsSync(join(dir, SWEEP_RECORD)));
  } catch {
    return [];
  }
}

/** "3 done · 1 running · 1 pruned" */
export function sweepProgress(group: SweepGroup): string {
  const count = new Map<string, number>();
  for (const run of group.runs) {
    const word = run.status === 'completed' ? 'done' : run.status === 'starting' ? 'running' : run.status;
    count.set(word, (count.get(word) ?? 0) + 1);
  }
  return [...count.entries()].map(([word, n]) => `${n} ${word}`).join(' · ');
}

/** The sweep folder a sweep file runs in: `<sweeps>/<name>`, name as the file says (or its file name). */
export function sweepFolderFor(sweepFile: string, sweeps: string): string {
  let name = basename(sweepFile).replace(/\.sweep\.json$/, '');
  try {
    const parsed: unknown = parseJsonc(readFileSync(sweepFile, 'utf8'), [], { allowTrailingComma: true });
    const named = typeof parsed === 'object' && parsed !== null ? (parsed as { name?: unknown }).name : undefined;
    if (typeof named === 'string' && named) name = named;
  } catch {
    // the trainer says what is wrong with the file
  }
  return join(sweeps, name.replace(/[^\w.-]+/g, '-'));
}


