/**
 * The Sweep view's model, read from a sweep folder (no VS Code here): sweep.json, the trainer's
 * analysis.json (Optuna's Pareto front, best trials, importance, each configuration's seeds) and the
 * live state of the trials' runs from the run store. Lenient: what it cannot read it says in notes,
 * and a configuration whose runs exist but which analysis.json does not list yet (it is written after
 * each trial) is built from its runs, so a running sweep never shows less than its runs view.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { SweepConfiguration, SweepObjective, SweepSeedRun, SweepView } from '../../contracts/webviews/sweep';
import { isPidAlive } from './process';
import type { RunState } from './runStore';
import { readRecord, sweepFolderOf } from './sweepFolders';

export const SWEEP_ANALYSIS = 'analysis.json';

type Json = Record<string, unknown>;

const isJson = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value) ?? 'null');
/** a parameter's value as the view shows and compares it: JSON text (0.01, "jbond") */
const asJson = (value: unknown): string => JSON.stringify(value) ?? 'null';

function readJson(path: string): { value?: Json; problem?: string } {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  try {
    const value: unknown = JSON.parse(raw);
    return isJson(value) ? { value } : { problem: 'not a JSON object' };
  } catch (error) {
    return { problem: `not JSON (${(error as Error).message})` };
  }
}

function objectivesOf(value: unknown): SweepObjective[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isJson).filter((o) => typeof o.metric === 'string')
    .map((o) => ({ metric: o.metric as string, goal: o.goal === 'minimize' ? 'minimize' : 'maximize' }));
}

function evaluationOf(value: unknown): Record<string, number> | null {
  if (!isJson(value)) return null;
  const numbers: Record<string, number> = {};
  for (const [key, number] of Object.entries(value)) if (finite(number)) numbers[key] = number;
  return numbers;
}

/** A run's last evaluation as the store holds it: its numbers. */
function liveEvaluation(run: RunState | undefined): Record<string, number> | null {
  return run?.latestEval ? evaluationOf(run.latestEval) : null;
}

function seedRun(seed: number, dir: string, fromFile: Json | undefined, live: RunState | undefined): SweepSeedRun {
  return {
    seed, dir,
    status: live?.status ?? (typeof fromFile?.status === 'string' ? fromFile.status : null),
    step: live ? live.meta.step : null,
    totalSteps: live ? live.meta.total_steps : null,
    evaluation: liveEvaluation(live) ?? evaluationOf(fromFile?.evaluation),
  };
}

/** A configuration's state from its runs, when the study's word on it is not written yet. */
function stateFromRuns(seeds: SweepSeedRun[]): string {
  const statuses = seeds.map((s) => s.status);
  if (statuses.some((s) => s === 'running' || s === 'starting')) return 'running';
  if (statuses.some((s) => s === 'pruned')) return 'pruned';
  if (statuses.some((s) => s === 'failed' || s === 'lost')) return 'failed';
  if (statuses.length > 0 && statuses.every((s) => s === 'completed')) return 'complete';
  return statuses.some((s) => s === 'stopped') ? 'stopped' : 'running';
}

/**
 * The view of one sweep folder. `runs`: every run the store lists (those of this sweep are picked by
 * their run.json's sweep record).
 */
export function readSweepView(folder: string, runs: readonly RunState[]): SweepView {
  const notes: string[] = [];
  const record = readRecord(folder);
  if (!record) notes.push(`${join(folder, 'sweep.json')} is missing or unreadable: the folder's name stands in for the sweep's.`);
  const full = (record ?? {}) as Json;
  const analysisPath = join(folder, SWEEP_ANALYSIS);
  const { value: analysis, problem } = readJson(analysisPath);
  if (problem) notes.push(`${analysisPath}: ${problem}; the trials are shown from their runs.`);
  else if (!analysis) notes.push(`${SWEEP_ANALYSIS} is not written yet (the trainer writes it when the sweep starts and after every trial; a sweep started by an older BOND Studio gets one when it is resumed): the trials are shown from their runs, without Optuna's front, best trials or importance.`);
  else if (analysis.format_version !== 1) notes.push(`${SWEEP_ANALYSIS} has format_version ${text(analysis.format_version)}, newer than this editor reads (1): what it recognises is shown.`);

  const mine = runs.filter((run) => {
    const of = sweepFolderOf(run);
    return of !== undefined && resolve(of) === resolve(folder);
  });
  const byDir = new Map(mine.map((run) => [run.dir, run]));
  const trials = new Map<number, SweepConfiguration>();
  const skipped: string[] = [];
  for (const entry of Array.isArray(analysis?.trials) ? analysis.trials : []) {
    if (!isJson(entry) || !Number.isInteger(entry.number)) {
      skipped.push(text(entry).slice(0, 60));
      continue;
    }
    const seeds = (Array.isArray(entry.seeds) ? entry.seeds : []).filter(isJson).filter((s) => Number.isInteger(s.seed) && typeof s.run === 'string')
      .map((s) => {
        const dir = isAbsolute(s.run as string) ? s.run as string : join(folder, s.run as string);
        return seedRun(s.seed as number, dir, s, byDir.get(dir));
      });
    const values = Array.isArray(entry.values) ? entry.values.map((v) => (finite(v) ? v : null)) : null;
    trials.set(entry.number as number, {
      number: entry.number as number, state: typeof entry.state === 'string' ? entry.state : 'unknown',
      params: Object.fromEntries(Object.entries(isJson(entry.params) ? entry.params : {}).map(([k, v]) => [k, asJson(v)])),
      values, feasible: typeof entry.feasible === 'boolean' ? entry.feasible : null, seeds,
      error: typeof entry.error === 'string' ? entry.error : null,
    });
  }
  if (skipped.length) notes.push(`${SWEEP_ANALYSIS}: ${skipped.length} trial entr${skipped.length === 1 ? 'y' : 'ies'} without a number skipped (first: ${skipped[0]}).`);
  // runs of configurations the file does not list yet (asked since it was written), or whose seeds it lacks
  for (const run of mine) {
    const sweep = run.meta.sweep;
    if (!sweep || !Number.isInteger(sweep.trial)) continue;
    let trial = trials.get(sweep.trial);
    if (!trial) {
      trial = { number: sweep.trial, state: 'running', params: Object.fromEntries(Object.entries(sweep.parameters ?? {}).map(([k, v]) => [k, asJson(v)])),
        values: null, feasible: null, seeds: [], error: null };
      trials.set(sweep.trial, trial);
    }
    if (!trial.seeds.some((s) => s.dir === run.dir)) trial.seeds.push(seedRun(sweep.seed, run.dir, undefined, run));
  }
  for (const trial of trials.values()) {
    trial.seeds.sort((a, b) => a.seed - b.seed);
    // the study learns of a trial's end only after its last seed: until then its runs say more
    if (!Array.isArray(analysis?.trials) || !(analysis.trials as unknown[]).some((e) => isJson(e) && e.number === trial.number)) {
      trial.state = stateFromRuns(trial.seeds);
    } else if (trial.state === 'running' && trial.seeds.length && trial.seeds.every((s) => s.status === 'stopped')) {
      trial.state = 'stopped'; // the sweep was killed before it could say so
    }
  }

  const pid = finite(full.pid) ? full.pid : 0;
  const status = typeof full.status === 'string' ? full.status : 'unknown';
  let analysedAt: number | null = null;
  try {
    analysedAt = analysis ? statSync(analysisPath).mtimeMs : null;
  } catch {
    analysedAt = null;
  }
  const importance = isJson(analysis?.importance)
    ? Object.fromEntries(Object.entries(analysis.importance).filter(([, v]) => isJson(v)).map(([metric, scores]) =>
      [metric, Object.fromEntries(Object.entries(scores as Json).filter(([, v]) => finite(v))) as Record<string, number>]))
    : null;
  return {
    folder,
    name: typeof full.name === 'string' ? full.name : basename(folder),
    status,
    active: status === 'running' && pid > 0 && isPidAlive(pid),
    method: typeof full.method === 'string' ? full.method : 'unknown',
    objectives: objectivesOf(analysis?.objectives ?? full.objectives),
    parameters: Array.isArray(full.parameters) ? full.parameters.filter((p): p is string => typeof p === 'string')
      : [...new Set([...trials.values()].flatMap((t) => Object.keys(t.params)))],
    seeds: Array.isArray(full.seeds) ? full.seeds.filter((s): s is number => Number.isInteger(s)) : [],
    maxTrials: Number.isInteger(full.max_trials) ? full.max_trials as number : null,
    trials: [...trials.values()].sort((a, b) => a.number - b.number),
    paretoFront: Array.isArray(analysis?.pareto_front) ? analysis.pareto_front.filter((n): n is number => Number.isInteger(n)) : [],
    best: (Array.isArray(analysis?.best) ? analysis.best : []).filter(isJson)
      .filter((b) => typeof b.metric === 'string' && Number.isInteger(b.trial))
      .map((b) => ({ metric: b.metric as string, goal: b.goal === 'minimize' ? 'minimize' : 'maximize', trial: b.trial as number })),
    importance,
    importanceNote: typeof analysis?.importance_note === 'string' ? analysis.importance_note : '',
    analysedAt,
    notes,
  };
}
