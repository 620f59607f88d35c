/**
 * Finding a Python that can run the trainer, and running the trainer's one-shot commands
 * (check, validate). The extension and the CLI share this; only the candidate list differs.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  isEnvironmentReport, isValidateReport, type EnvironmentReport, type ValidateReport,
} from '../../contracts/trainer-cli';

export interface PythonCandidate {
  /** where it came from, for messages: "setting bond.pythonPath", "$BOND_PYTHON", ".venv" */
  source: string;
  path: string;
}

export interface TrainerEnvironment {
  python: string;
  /** folder holding the bond_trainer package (goes on PYTHONPATH) */
  trainerDir: string;
}

export function trainerEnv(trainerDir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const existing = base.PYTHONPATH;
  return { ...base, PYTHONPATH: existing ? `${trainerDir}${process.platform === 'win32' ? ';' : ':'}${existing}` : trainerDir,
    PYTHONUNBUFFERED: '1' };
}

function runJson(python: string, trainerDir: string, args: string[], timeoutMs: number): Promise<{ code: number; json: unknown; stderr: string }> {
  return new Promise((resolve) => {
    execFile(python, ['-m', 'bond_trainer', ...args], { env: trainerEnv(trainerDir), timeout: timeoutMs, maxBuffer: 8 << 20 },
      (error, stdout, stderr) => {
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        let problem = stderr;
        if (error?.code === 'ENOENT' || error?.code === 'EACCES') {
          problem = `${python} does not exist or cannot be run; point bond.pythonPath or $BOND_PYTHON at a Python interpreter`;
        } else if (!problem && error) {
          problem = error.message;
        }
        resolve({ code, json, stderr: problem });
      });
  });
}

export type CheckResult = { ok: true; report: EnvironmentReport } | { ok: false; problem: string };

/** Run `bond_trainer check` with this interpreter. */
export async function checkPython(python: string, trainerDir: string, timeoutMs = 60_000): Promise<CheckResult> {
  const { code, json, stderr } = await runJson(python, trainerDir, ['check'], timeoutMs);
  if (code === 0 && isEnvironmentReport(json)) {
    if (!json.torch.meets_minimum) return { ok: false, problem: `torch ${json.torch.version} is older than 2.1` };
    return { ok: true, report: json };
  }
  const last = stderr.trim().split('\n').slice(-1)[0] ?? '';
  if (/No module named ['"]?torch/.test(stderr)) return { ok: false, problem: 'torch is not installed' };
  return { ok: false, problem: last || `exited with ${code}` };
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

/** Run scripts/bootstrap-python (makes the venv and installs torch); resolves to the interpreter. */
export function bootstrapPython(root: string, venvDir: string, onOutput: (text: string) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(root, 'scripts', 'bootstrap-python')], {
      env: { ...process.env, BOND_VENV_DIR: venvDir }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => onOutput(chunk.toString()));
    child.on('error', (error) => reject(new Error(`cannot run the Python bootstrap (bash needed): ${error.message}`)));
    child.on('close', (code) => {
      const python = stdout.trim().split('\n').slice(-1)[0];
      if (code === 0 && python) resolve(python);
      else reject(new Error('the Python bootstrap failed; its messages are in the output above'));
    });
  });
}

/** `bond_trainer validate`: the trainer's own rules for a config (the editor's Diagnostics). */
export async function validateConfig(env: TrainerEnvironment, configPath: string): Promise<ValidateReport | string> {
  const { json, stderr, code } = await runJson(env.python, env.trainerDir, ['validate', '--config', configPath], 60_000);
  if (isValidateReport(json)) return json;
  return `the trainer could not validate ${configPath} (exit ${code}): ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`;
}
