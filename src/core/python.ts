/**
 * Finding a Python that can run the trainer (the candidates, `check` on each, the bootstrap). The
 * extension and the CLI share this; only the candidate list differs. Commands: trainerCli.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EnvironmentReport, ValidateReport } from '../../contracts/trainer-cli';
import { checkCall, runTrainerCall, validateCall, type CheckResult } from './trainerCli';

export { trainerEnv, type CheckResult } from './trainerCli';

export interface PythonCandidate {
  /** where it came from, for messages: "setting bond.pythonPath", "$BOND_PYTHON", ".venv" */
  source: string;
  path: string;
}

export interface TrainerEnvironment {
  python: string;
  /** folder holding the bond_trainer package (goes on PYTHONPATH) */
  trainerDir: string;
  /** the interpreter honours PYTHONSAFEPATH (3.11+): its working directory is not put on sys.path */
  safePath?: boolean;
}

/** Python 3.11 added PYTHONSAFEPATH (-P): `-m` then no longer puts the working directory on sys.path. */
export function honoursSafePath(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return (major ?? 0) > 3 || ((major ?? 0) === 3 && (minor ?? 0) >= 11);
}

/**
 * The working directory for a trainer process: the one asked for (a run's config folder, so that a
 * reward's relative file reads work) only where it cannot shadow the trainer's imports; else the
 * trainer's own folder, which the workspace does not control.
 */
export function trainerCwd(env: TrainerEnvironment, preferred: string): string {
  return env.safePath ? preferred : env.trainerDir;
}

/** Run `bond_trainer check` with this interpreter. */
export function checkPython(python: string, trainerDir: string, timeoutMs = 60_000): Promise<CheckResult> {
  return runTrainerCall(python, trainerDir, checkCall(timeoutMs));
}

/** The first candidate that runs the trainer; the problems of the others, for the message. */
export type ResolvedPython =
  | { ok: true; python: string; source: string; report: EnvironmentReport }
  | { ok: false; problems: string[] };

export async function resolvePython(candidates: PythonCandidate[], trainerDir: string): Promise<ResolvedPython> {
  const problems: string[] = [];
  for (const candidate of candidates) {
    const result = await checkPython(candidate.path, trainerDir);
    if (result.ok) return { ok: true, python: candidate.path, source: candidate.source, report: result.report };
    problems.push(`${candidate.source} (${candidate.path}): ${result.problem}`);
  }
  return { ok: false, problems };
}

/** The default candidates: $BOND_PYTHON, then the venv that the bootstrap script makes. */
export function defaultCandidates(venvDir: string, env: NodeJS.ProcessEnv = process.env): PythonCandidate[] {
  const out: PythonCandidate[] = [];
  if (env.BOND_PYTHON) out.push({ source: '$BOND_PYTHON', path: env.BOND_PYTHON });
  const venvPython = process.platform === 'win32' ? join(venvDir, 'Scripts', 'python.exe') : join(venvDir, 'bin', 'python');
  if (existsSync(venvPython)) out.push({ source: venvDir, path: venvPython });
  return out;
}

/**
 * Run scripts/bootstrap-python with these arguments; resolves to the interpreter it prints last.
 * Its progress (stderr) goes to onOutput.
 */
function runBootstrap(root: string, args: string[], env: NodeJS.ProcessEnv, onOutput: (text: string) => void, failure: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'scripts', 'bootstrap-python'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => onOutput(chunk.toString()));
    child.on('error', (error) => reject(new Error(`cannot run the Python bootstrap (bash needed): ${error.message}`)));
    child.on('close', (code) => {
      const python = stdout.trim().split('\n').slice(-1)[0];
      if (code === 0 && python) resolve(python);
      else reject(new Error(failure));
    });
  });
}

/**
 * Make (or reuse) the venv at venvDir; resolves to its interpreter. `--studio` installs what the
 * editor's own features use (torch, and onnx for the playground's export).
 */
export function bootstrapPython(root: string, venvDir: string, onOutput: (text: string) => void, args: string[] = []): Promise<string> {
  return runBootstrap(root, args, { ...process.env, BOND_VENV_DIR: venvDir }, onOutput,
    'the Python bootstrap failed; its messages are in the output above');
}

/** pip-install optional packages into this interpreter, with the bootstrap's own pip arguments. */
export async function installPackages(root: string, python: string, requirements: readonly string[], onOutput: (text: string) => void): Promise<void> {
  await runBootstrap(root, ['--install', python, ...requirements], process.env, onOutput,
    `pip could not install ${requirements.join(' ')} into ${python}; its messages are in the output above`);
}

/** `bond_trainer validate`: the trainer's own rules for a config (the editor's Diagnostics). */
export function validateConfig(env: TrainerEnvironment, configPath: string,
  options: { overrides?: readonly string[]; diffRun?: string; text?: string } = {}): Promise<ValidateReport | string> {
  return runTrainerCall(env.python, env.trainerDir, validateCall(configPath, options));
}
