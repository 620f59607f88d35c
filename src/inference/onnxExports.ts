/**
 * Exported models of a run, as the playground sees them: <run>/exports/step-<N>/{policy,anchor}/
 * with model.onnx and model.json each. The folders are renamed into place whole by the trainer, so a
 * folder that is listed is complete. `exportCheckpoint` makes them from a checkpoint (the latest by default).
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_FOLDER, type RunMeta } from '../../contracts/run-directory';
import { checkpointsOnDisk } from '../core/checkpointsOnDisk';
import { readRegularFile } from '../core/regularFile';
import type { TrainerEnvironment } from '../core/python';
import { exportOnnx } from '../core/trainerCli';

export interface ExportSet {
  step: number;
  policy: string;
  anchor: string;
}


export async function listExports(runDir: string): Promise<ExportSet[]> {
  const root = join(runDir, RUN_FOLDER.exports);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const sets: ExportSet[] = [];
  for (const name of names) {
    const match = /^step-(\d+)$/.exec(name);
    if (!match) continue;
    const policy = join(root, name, 'policy');
    const anchor = join(root, name, 'anchor');
    if (existsSync(join(policy, 'model.json')) && existsSync(join(anchor, 'model.json'))) sets.push({ step: Number(match[1]), policy, anchor });
  }
  return sets.sort((a, b) => b.step - a.step);
}

/** Why the latest step with export problems could not be exported (exports/step-N/errors.json), or null. */
export async function latestExportProblem(runDir: string): Promise<string | null> {
  const root = join(runDir, RUN_FOLDER.exports);
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return null;
  }
  const steps = names.map((n) => /^step-(\d+)$/.exec(n)?.[1]).filter((n): n is string => n !== undefined).map(Number).sort((a, b) => b - a);
  const latest = steps[0];
  if (latest === undefined) return null;
  try {
    const errors = JSON.parse(await readRegularFile(join(root, `step-${latest}`, RUN_FOLDER.exportErrors), 2 ** 20)) as unknown;
    if (typeof errors !== 'object' || errors === null) return null;
    const lines = Object.entries(errors as Record<string, unknown>).map(([role, why]) => `${role}: ${String(why)}`);
    return lines.length ? `Step ${latest} could not be exported for the playground (${lines.join('; ')})` : null;
  } catch {
    return null;  // no errors.json: the step exported whole
  }
}

/**
 * Export a checkpoint's policy and anchor: the one at `step`, or the latest. A run whose anchor is the
 * fixed reference has no anchor.pt: its reference model, as the trainer resolved it (run.json
 * paths.reference), is exported as the anchor.
 */
export async function exportCheckpoint(env: TrainerEnvironment, runDir: string, meta: RunMeta, step?: number): Promise<ExportSet> {
  // From disk, intact ones only: run.json's list can lag behind a kill.
  const sorted = await checkpointsOnDisk(runDir);
  const latest = step === undefined ? sorted[0] : sorted.find((c) => c.step === step);
  if (!latest) {
    throw new Error(step === undefined ? `${meta.name} has no checkpoint yet; exports are made from checkpoints (checkpoint.every)`
      : `${meta.name} has no intact checkpoint at step ${step} (it keeps steps ${sorted.map((c) => c.step).join(', ') || 'none'}: checkpoint.keep_last)`);
  }
  const checkpoint = latest.path;
  const target = join(runDir, RUN_FOLDER.exports, `step-${latest.step}`);
  await exportOnnx(env, checkpoint, join(target, 'policy'), 'policy');
  if (existsSync(join(checkpoint, 'anchor.pt'))) {
    await exportOnnx(env, checkpoint, join(target, 'anchor'), 'anchor');
  } else {
    const reference = meta.paths?.reference;
    if (!reference) throw new Error(`${meta.name} was written by an older trainer that did not record its reference model's path; set export.onnx to true in its config and resume it, or export with bond_trainer export-onnx`);
    if (reference.kind === 'random' || !reference.location) throw new Error(`${meta.name}: the anchor is the reference, which was randomly initialised and not saved; the playground cannot rebuild it`);
    await exportOnnx(env, reference.location, join(target, 'anchor'), 'reference', reference.chat_template);
  }
  return { step: latest.step, policy: join(target, 'policy'), anchor: join(target, 'anchor') };
}
