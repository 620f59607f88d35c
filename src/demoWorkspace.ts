/**
 * *BOND: Create Demo Workspace*: the demo's configs and prompts copied into a folder, and the demo's
 * reference model pretrained into its build/ folder with progress, so the demo runs from there.
 * No `vscode` here except through the callbacks: the end-to-end and unit tests drive it directly.
 */
import { spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { prepareDemoArgs, readPretrainProgress, trainerEnv } from './core/trainerCli';
import type { TrainerEnvironment } from './core/python';

/** The files a demo workspace gets, from the extension's examples/demo. */
export const DEMO_FILES = ['demo.bond.json', 'demo-composite.bond.json', 'prompts-train.jsonl', 'prompts-eval.jsonl'] as const;
/** Where the configs expect the reference model, relative to the workspace. */
export const DEMO_REFERENCE = join('build', 'reference.pt');

/**
 * Copy the demo files into `target`. A file already there is kept (the user's edits win) and listed
 * in `kept`. The configs' `$schema` line points into the extension's checkout, so it is dropped: the
 * extension validates every *.bond.json anyway.
 */
export async function copyDemoFiles(extensionRoot: string, target: string): Promise<{ written: string[]; kept: string[] }> {
  const source = join(extensionRoot, 'examples', 'demo');
  await fs.mkdir(target, { recursive: true });
  const written: string[] = [];
  const kept: string[] = [];
  for (const name of DEMO_FILES) {
    const to = join(target, name);
    if (existsSync(to)) {
      kept.push(name);
      continue;
    }
    let text = await fs.readFile(join(source, name), 'utf8');
    if (name.endsWith('.bond.json')) text = text.replace(/^\s*"\$schema":.*\n/m, '');
    await fs.writeFile(to, text, { flag: 'wx' });
    written.push(name);
  }
  return { written, kept };
}

/** A folder Create Demo Workspace finished: the demo config and its pretrained reference. */
export function isDemoWorkspace(folder: string): boolean {
  return existsSync(join(folder, DEMO_FILES[0])) && existsSync(join(folder, DEMO_REFERENCE));
}

export interface PretrainProgress {
  step: number;
  total: number;
}

/**
 * Pretrain the reference into `target`/build/reference.pt (the trainer writes it atomically); skipped
 * when it is there. Resolves to 'done', 'cached' or 'cancelled'; rejects with the trainer's last words.
 */
export function pretrainDemoReference(env: TrainerEnvironment, target: string, onProgress: (progress: PretrainProgress) => void,
  onOutput: (line: string) => void, cancelled: { isCancellationRequested: boolean; onCancellationRequested(listener: () => void): unknown }):
  Promise<'done' | 'cached' | 'cancelled'> {
  const reference = join(target, DEMO_REFERENCE);
  if (existsSync(reference)) return Promise.resolve('cached');
  return new Promise((resolve, reject) => {
    const child = spawn(env.python, prepareDemoArgs(reference), { cwd: env.trainerDir, env: trainerEnv(env.trainerDir), stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const onLine = (line: string): void => {
      if (!line.trim()) return;
      onOutput(line);
      tail.push(line);
      if (tail.length > 5) tail.shift();
      const progress = readPretrainProgress(line);
      if (progress) onProgress(progress);
    };
    // whole lines, however the pipe splits them
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    cancelled.onCancellationRequested(() => child.kill());
    child.on('error', reject);
    child.on('close', (code) => {
      if (cancelled.isCancellationRequested) resolve('cancelled');
      else if (code === 0) resolve('done');
      else reject(new Error(`pretraining the demo's reference failed (exit ${code}): ${tail.join(' | ')}`));
    });
  });
}
