/**
 * Exported models of a run, as the playground sees them: <run>/exports/step-<N>/{policy,anchor}/
 * with model.onnx and model.json each, and reference/ (π_ref) when it could be exported. The folders are renamed into place whole by the trainer, so a
 * folder that is listed is complete. `exportCheckpoint` makes them from a checkpoint (the latest by default).
 */
import { existsSync } from 'node:fs';
import { cp, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_FOLDER, type RunMeta } from '../../contracts/run-directory';
import { checkpointsOnDisk } from '../core/checkpointsOnDisk';
import { readRegularFile } from '../core/regularFile';
import type { TrainerEnvironment } from '../core/python';
import { exportOnnx } from '../core/trainerCli';
import { readModelJson } from './modelInfo';

export interface ExportSet {
  step: number;
  policy: string;
  anchor: string;
  /** π_ref's export, or null (a step exported before the reference was, or a reference that cannot be rebuilt) */
  reference: string | null;
}


/** The role an export folder's model.json names (policy, anchor or reference), or null when unreadable. */
async function exportedRole(folder: string): Promise<string | null> {
  return readModelJson(join(folder, 'model.json')).then((info) => info.role, () => null);
}

/** A step's errors.json (the roles that could not be exported, and why): {} when there is none. */
async function exportErrors(stepFolder: string): Promise<Record<string, unknown>> {
  try {
    const errors: unknown = JSON.parse(await readRegularFile(join(stepFolder, RUN_FOLDER.exportErrors), 2 ** 20));
    return typeof errors === 'object' && errors !== null && !Array.isArray(errors) ? errors as Record<string, unknown> : {};
  } catch {
    return {}; // no errors.json: the step exported whole
  }
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
    const reference = join(root, name, 'reference');
    if (existsSync(join(policy, 'model.json')) && existsSync(join(anchor, 'model.json'))) {
      // A fixed anchor is exported as the reference: then the anchor's export is π_ref's.
      const found = existsSync(join(reference, 'model.json')) ? reference : (await exportedRole(anchor)) === 'reference' ? anchor : null;
      sets.push({ step: Number(match[1]), policy, anchor, reference: found });
    }
  }
  return sets.sort((a, b) => b.step - a.step);
}

/** Why a role of a step was not exported (that step's errors.json), or null. */
export async function roleExportProblem(runDir: string, step: number, role: string): Promise<string | null> {
  const why = (await exportErrors(join(runDir, RUN_FOLDER.exports, `step-${step}`)))[role];
  return typeof why === 'string' ? why : null;
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
  const lines = Object.entries(await exportErrors(join(root, `step-${latest}`))).map(([role, why]) => `${role}: ${String(why)}`);
  return lines.length ? `Step ${latest} could not be exported for the playground (${lines.join('; ')})` : null;
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
  const exported = (reference: string | null): ExportSet =>
    ({ step: latest.step, policy: join(target, 'policy'), anchor: join(target, 'anchor'), reference });
  await exportOnnx(env, checkpoint, join(target, 'policy'), 'policy');
  const reference = meta.paths?.reference;
  const referenceProblem = !reference
    ? `${meta.name} was written by an older trainer that did not record its reference model's path; set export.onnx to true in its config and resume it, or export with bond_trainer export-onnx`
    : reference.kind === 'random' || !reference.location
      ? `${meta.name}: the reference was randomly initialised and not saved; the playground cannot rebuild it (export.onnx: true exports it while training)`
      : null;
  if (existsSync(join(checkpoint, 'anchor.pt'))) {
    await exportOnnx(env, checkpoint, join(target, 'anchor'), 'anchor');
  } else {
    // The anchor is the fixed reference: its export is the reference's.
    if (referenceProblem || !reference?.location) throw new Error(referenceProblem ?? `${meta.name}: no reference to export`);
    await exportOnnx(env, reference.location, join(target, 'anchor'), 'reference', reference.chat_template);
    return exported(join(target, 'anchor'));
  }
  // π_ref beside them, for the playground's reference column; without it the other columns still work.
  if (referenceProblem || !reference?.location) {
    await writeExportProblem(target, 'reference', referenceProblem ?? 'no reference location');
    return exported(null);
  }
  // π_ref does not change over a run: another step's export of it is copied, not made again.
  const earlier = (await listExports(runDir)).find((set) => set.step !== latest.step && set.reference !== null && set.reference !== set.anchor);
  try {
    if (earlier?.reference) await cp(earlier.reference, join(target, 'reference'), { recursive: true });
    else await exportOnnx(env, reference.location, join(target, 'reference'), 'reference', reference.chat_template);
  } catch (error) {
    // The step's policy and anchor are exported: a reference that fails costs its column only, said.
    await writeExportProblem(target, 'reference', (error as Error).message);
    return exported(null);
  }
  return exported(join(target, 'reference'));
}

/** Say in the step's errors.json (the trainer's file for roles it could not export) why a role is missing. */
async function writeExportProblem(target: string, role: string, why: string): Promise<void> {
  const errors = await exportErrors(target);
  await writeFile(join(target, RUN_FOLDER.exportErrors), `${JSON.stringify({ ...errors, [role]: why }, null, 2)}\n`);
}
