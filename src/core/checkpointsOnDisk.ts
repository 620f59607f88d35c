/**
 * A run's checkpoints as they are on disk, not as run.json lists them: every checkpoints/step-N
 * folder whose manifest (checkpoint.json) is there and whose files have the sizes it records (a
 * cheap check; the trainer verifies the hashes when it resumes). Paths never leave the run folder.
 */
import { lstat, readdir } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { RUN_FOLDER } from '../../contracts/run-directory';
import { readRegularFile } from './regularFile';

export interface CheckpointOnDisk {
  step: number;
  /** absolute path of checkpoints/step-N */
  path: string;
}

/** `relativePath` resolved inside `runDir`, or undefined when it would leave it (.., absolute, a link out). */
export function insideRun(runDir: string, relativePath: string): string | undefined {
  const root = resolve(runDir);
  const target = resolve(root, relativePath);
  const rel = relative(root, target);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? undefined : target;
}

async function intact(folder: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readRegularFile(join(folder, RUN_FOLDER.checkpointManifest), 16 * 2 ** 20)) as { files?: unknown };
    if (typeof manifest.files !== 'object' || manifest.files === null) return false;
    for (const [name, entry] of Object.entries(manifest.files as Record<string, { size?: unknown }>)) {
      const path = insideRun(folder, name);
      if (!path) return false;
      const stat = await lstat(path);
      if (!stat.isFile() || stat.size !== entry.size) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** The intact checkpoints, newest first. */
export async function checkpointsOnDisk(runDir: string): Promise<CheckpointOnDisk[]> {
  const root = join(runDir, RUN_FOLDER.checkpoints);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const found: CheckpointOnDisk[] = [];
  for (const name of names) {
    const match = /^step-(\d+)$/.exec(name);
    if (!match) continue;
    const path = join(root, name);
    const stat = await lstat(path).catch(() => undefined);
    if (stat?.isDirectory() && await intact(path)) found.push({ step: Number(match[1]), path });
  }
  return found.sort((a, b) => b.step - a.step);
}
