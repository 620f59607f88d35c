/**
 * The editor's own notes on a run (bond-studio.json in the run folder, run-folder contract
 * "annotations"): a label, a note, tags. Read leniently, written atomically, fields it does not know
 * kept; run.json is never touched. And the labels that tell runs apart everywhere.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { RUN_FOLDER } from '../../contracts/run-directory';
import { readRegularFile } from './regularFile';

export interface RunAnnotations {
  label?: string;
  note?: string;
  tags?: string[];
}

/** What bond-studio.json says, leniently: unusable fields are dropped (the file itself is kept as it is). */
export async function readAnnotations(dir: string): Promise<RunAnnotations> {
  let value: unknown;
  try {
    value = JSON.parse(await readRegularFile(join(dir, RUN_FOLDER.annotations), 2 ** 20));
  } catch {
    return {}; // none yet, or unreadable: nothing to show
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  const raw = value as Record<string, unknown>;
  const out: RunAnnotations = {};
  if (typeof raw.label === 'string' && raw.label.trim()) out.label = raw.label.trim();
  if (typeof raw.note === 'string' && raw.note.trim()) out.note = raw.note;
  if (Array.isArray(raw.tags)) out.tags = [...new Set(raw.tags.filter((t): t is string => typeof t === 'string' && t.trim() !== '').map((t) => t.trim()))];
  return out;
}

/** Change some annotations (undefined: leave; '' or []: remove), keeping every other field of the file. */
export async function writeAnnotations(dir: string, change: { label?: string; note?: string; tags?: string[] }): Promise<RunAnnotations> {
  const path = join(dir, RUN_FOLDER.annotations);
  let current: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(await readRegularFile(path, 2 ** 20));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) current = parsed as Record<string, unknown>;
  } catch {
    // no file yet (or an unreadable one, which is replaced)
  }
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) continue;
    const empty = typeof value === 'string' ? value.trim() === '' : value.length === 0;
    if (empty) delete current[key];
    else current[key] = typeof value === 'string' ? value.trim() : [...new Set(value.map((t) => t.trim()).filter(Boolean))];
  }
  const temp = `${path}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${JSON.stringify(current, null, 2)}\n`);
  await fs.rename(temp, path);
  return readAnnotations(dir);
}

/** "12-01 09:48:03": enough to tell two runs of one config apart. */
function startedAt(seconds: number): string {
  const d = new Date(seconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * A label for every run that no other run shares: the user's label or run.json's name, then, where
 * several runs would read the same, when each started, and if that too is shared, its folder.
 */
export function distinctLabels(runs: readonly { dir: string; name: string; label?: string; createdAt: number }[]): Map<string, string> {
  const base = (run: (typeof runs)[number]) => run.label ?? run.name;
  const groups = new Map<string, (typeof runs)[number][]>();
  for (const run of runs) {
    const members = groups.get(base(run));
    if (members) members.push(run);
    else groups.set(base(run), [run]);
  }
  const out = new Map<string, string>();
  for (const [name, members] of groups) {
    if (members.length === 1) {
      out.set(members[0]!.dir, name);
      continue;
    }
    const stamps = new Map<string, number>();
    for (const run of members) stamps.set(startedAt(run.createdAt), (stamps.get(startedAt(run.createdAt)) ?? 0) + 1);
    for (const run of members) {
      const stamp = startedAt(run.createdAt);
      out.set(run.dir, (stamps.get(stamp) ?? 0) > 1 ? `${name} · ${stamp} · ${run.dir.split(/[\\/]/).pop()}` : `${name} · ${stamp}`);
    }
  }
  return out;
}
