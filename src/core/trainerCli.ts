/**
 * Every invocation of the trainer's command line, in one place: each function returns the arguments
 * after `python` and, for one-shot commands, how to read what the trainer printed (the output types
 * and their guards are in contracts/trainer-cli.ts). Long runs (`train`) are spawned by the run
 * manager, torchrun wrapped around them by launch.ts; one-shot commands run through `runTrainerCall`.
 */
import { execFile } from 'node:child_process';
import {
  isEnvironmentReport, isExportFailure, isValidateReport, type EnvironmentReport, type ExportFailure, type ValidateReport,
} from '../../contracts/trainer-cli';

/** How the trainer's package is started: `python -m bond_trainer …` (torchrun takes the same tail). */
export const TRAINER_MODULE: readonly string[] = ['-m', 'bond_trainer'];

export interface TrainerOutput {
  code: number;
  stdout: string;
  /** stderr, or what went wrong when the process could not run at all */
  stderr: string;
}

/** A one-shot trainer command and the reader of its output. */
export interface TrainerCall<T> {
  /** the arguments after `python -m bond_trainer` */
  args: string[];
  timeoutMs: number;
  /** written to the command's standard input (validate --stdin: an editor's unsaved text) */
  input?: string;
  read: (output: TrainerOutput) => T;
}

/** `train`: a run's arguments after `python -m bond_trainer` (the run manager spawns it). */
export function trainArgs(configPath: string, runDir: string, overrides: readonly string[], resume: boolean): string[] {
  const args = ['train', '--config', configPath, '--run-dir', runDir];
  if (resume) args.push('--resume');
  for (const override of overrides) args.push('--set', override);
  return args;
}

/** The command a person types to resume a run by hand (for messages). */
export function resumeCommandLine(configPath: string | null, runDir: string): string {
  return ['python', ...TRAINER_MODULE, ...trainArgs(configPath ?? '…', runDir, [], true)].join(' ');
}

/**
 * `demo --prepare-only`: pretrain the demo's reference model, into the checkout's examples/demo or,
 * for a demo workspace, at `reference`. It prints `pretrain step S/T  loss L` as it goes.
 */
export function prepareDemoArgs(reference?: string): string[] {
  return [...TRAINER_MODULE, 'demo', '--prepare-only', ...(reference ? ['--reference', reference] : [])];
}

/** A pretraining progress line of `demo --prepare-only` → the step and the total, or undefined. */
export function readPretrainProgress(line: string): { step: number; total: number } | undefined {
  const match = /pretrain step (\d+)\/(\d+)/.exec(line);
  return match ? { step: Number(match[1]), total: Number(match[2]) } : undefined;
}

const lastLine = (text: string): string => text.trim().split('\n').slice(-1)[0] ?? '';

function parseJson(stdout: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

export type CheckResult = { ok: true; report: EnvironmentReport } | { ok: false; problem: string };

/** `check`: Python, torch and the devices, as JSON. */
export function checkCall(timeoutMs = 60_000): TrainerCall<CheckResult> {
  return {
    args: ['check'], timeoutMs,
    read: ({ code, stdout, stderr }) => {
      const json = parseJson(stdout);
      if (code === 0 && isEnvironmentReport(json)) {
        if (!json.torch.meets_minimum) return { ok: false, problem: `torch ${json.torch.version} is older than 2.1` };
        return { ok: true, report: json };
      }
      if (/No module named ['"]?torch/.test(stderr)) return { ok: false, problem: 'torch is not installed' };
      return { ok: false, problem: lastLine(stderr) || `exited with ${code}` };
    },
  };
}

/** `validate`: the trainer's own rules for a config or a sweep file (*.sweep.json) (the editor's Diagnostics); a string when it could not say. */
export function validateCall(configPath: string, options: { overrides?: readonly string[]; diffRun?: string; text?: string } = {}): TrainerCall<ValidateReport | string> {
  return {
    args: ['validate', configPath.endsWith('.sweep.json') ? '--sweep' : '--config', configPath, ...(options.overrides ?? []).flatMap((o) => ['--set', o]),
      ...(options.diffRun ? ['--diff-run', options.diffRun] : []), ...(options.text !== undefined ? ['--stdin'] : [])],
    timeoutMs: 60_000,
    ...(options.text !== undefined ? { input: options.text } : {}),
    read: ({ code, stdout, stderr }) => {
      const json = parseJson(stdout);
      if (isValidateReport(json)) return json;
      return `the trainer could not validate ${configPath} (exit ${code}): ${lastLine(stderr)}`;
    },
  };
}

/** `export-onnx`: one role of a checkpoint (or a model folder) as ONNX; null when it worked, else why not. */
export function exportOnnxCall(source: string, out: string, role: string, chatTemplate = false): TrainerCall<ExportFailure | null> {
  return {
    args: ['export-onnx', '--checkpoint', source, '--out', out, '--role', role, ...(chatTemplate ? ['--chat-template'] : [])],
    timeoutMs: 10 * 60_000,
    read: ({ code, stdout, stderr }) => {
      if (code === 0) return null;
      const said = parseJson(lastLine(stdout));
      if (isExportFailure(said)) return said;
      return { ok: false, problem: stderr.trim().split('\n').slice(-3).join(' ') || `exited with ${code}`, install: [] };
    },
  };
}

/** A trainer failure whose fix is installing optional packages into the trainer's Python. */
export class NeedsPackages extends Error {
  constructor(message: string, readonly install: readonly string[]) {
    super(message);
  }
}

export function trainerEnv(trainerDir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const existing = base.PYTHONPATH;
  // PYTHONSAFEPATH: `python -m` must not import from the working directory (a workspace torch.py or
  // bond_trainer/ would run instead of ours); older Pythons ignore it and get a safe cwd (trainerCwd).
  return { ...base, PYTHONPATH: existing ? `${trainerDir}${process.platform === 'win32' ? ';' : ':'}${existing}` : trainerDir,
    PYTHONUNBUFFERED: '1', PYTHONSAFEPATH: '1' };
}

/** Run a one-shot command with this interpreter and read its output. */
export function runTrainerCall<T>(python: string, trainerDir: string, call: TrainerCall<T>): Promise<T> {
  return new Promise((resolve) => {
    const child = execFile(python, [...TRAINER_MODULE, ...call.args], { cwd: trainerDir, env: trainerEnv(trainerDir), timeout: call.timeoutMs, maxBuffer: 8 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        let problem = stderr;
        if (error?.code === 'ENOENT' || error?.code === 'EACCES') {
          problem = `${python} does not exist or cannot be run; point bond.pythonPath or $BOND_PYTHON at a Python interpreter`;
        } else if (!problem && error) {
          problem = error.message;
        }
        resolve(call.read({ code, stdout, stderr: problem }));
      });
    child.stdin?.on('error', () => undefined); // a process that exits first: its output says why
    child.stdin?.end(call.input ?? '');
  });
}

/** Export one role; rejects with the trainer's reason. */
export async function exportOnnx(env: { python: string; trainerDir: string }, source: string, out: string, role: string,
  chatTemplate = false): Promise<void> {
  const failure = await runTrainerCall(env.python, env.trainerDir, exportOnnxCall(source, out, role, chatTemplate));
  if (failure === null) return;
  throw failure.install.length ? new NeedsPackages(failure.problem, failure.install) : new Error(failure.problem);
}
