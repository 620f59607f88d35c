/**
 * The run manager: starts trainer runs as detached child processes (their own process group, so
 * an editor reload does not kill training), stops them (SIGINT to the group, wait for `stopped`,
 * then kill), and resumes them. One primitive for the extension and the headless CLI.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { RUN_FOLDER, TERMINAL_STATUSES, type RunError, type RunMeta } from '../../contracts/run-directory';
import { Emitter } from './emitter';
import { distributedLaunch, trainerArguments } from './launch';
import { isPidAlive } from './process';
import { trainerCwd, trainerEnv, type TrainerEnvironment } from './python';
import { readRunMeta } from './runStore';
import { trainArgs } from './trainerCli';

export interface RunOutput {
  stream: 'stdout' | 'stderr';
  text: string;
}

export interface RunProcess {
  dir: string;
  pid: number;
  child: ChildProcess;
  output: Emitter<RunOutput>;
  /** resolves when the process exits, with its exit code (null when killed by a signal) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderrTail: string }>;
}

export type StopOutcome = 'stopped' | 'killed' | 'not-running';

export interface StartRequest {
  configPath: string;
  runsDirectory: string;
  cwd: string;
  overrides?: string[];
}

/** A folder-safe run id: the config's name and a timestamp, unique within the runs directory. */
export function newRunDirectory(runsDirectory: string, name: string, now = new Date()): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'bond-run';
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  let dir = join(runsDirectory, `${safe}-${stamp}`);
  for (let n = 2; existsSync(dir); n++) dir = join(runsDirectory, `${safe}-${stamp}-${n}`);
  return dir;
}

/** Create the run folder now (mkdir is atomic), so two starts in the same second never share one. */
export async function reserveRunDirectory(runsDirectory: string, name: string): Promise<string> {
  await fs.mkdir(runsDirectory, { recursive: true });
  for (;;) {
    const dir = newRunDirectory(runsDirectory, name);
    try {
      await fs.mkdir(dir);
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** The `name` field of a config (comments allowed), or the schema's default. */
export async function configName(configPath: string): Promise<string> {
  try {
    const parsed: unknown = parseJsonc(await fs.readFile(configPath, 'utf8'), [], { allowTrailingComma: true });
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as { name?: unknown }).name === 'string') {
      return (parsed as { name: string }).name;
    }
  } catch {
    // The trainer reports unreadable configs with a better message.
  }
  return 'bond-run';
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  if (process.platform === 'win32') {
    // No process groups or SIGINT on Windows: end the whole tree.
    spawnSync('taskkill', ['/PID', String(pid), '/T', '/F']);
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RunManager {
  private readonly processes = new Map<string, RunProcess>();

  constructor(private readonly environment: () => Promise<TrainerEnvironment>) {}

  /** Runs started by this manager that are still alive. */
  get active(): RunProcess[] {
    return [...this.processes.values()];
  }

  async start(request: StartRequest): Promise<RunProcess> {
    const dir = await reserveRunDirectory(request.runsDirectory, await configName(request.configPath));
    const args = trainArgs(request.configPath, dir, request.overrides ?? [], false);
    return this.launch(dir, args, request.cwd, request.configPath, request.overrides ?? []);
  }

  async resume(dir: string, cwd: string, overrides: string[] = []): Promise<RunProcess> {
    const meta = await readRunMeta(dir);
    if (typeof meta === 'string') throw new Error(`cannot resume ${dir}: ${meta}`);
    if (!meta.config_path || !existsSync(meta.config_path)) {
      throw new Error(`cannot resume ${dir}: its config ${meta.config_path ?? '(none recorded)'} no longer exists`);
    }
    const args = trainArgs(meta.config_path, dir, overrides, true);
    // The config as it is now: a run may resume with another number of processes.
    return this.launch(dir, args, cwd, meta.config_path, overrides);
  }

  /** `sweep`: the trainer's sweep command on a sweep file, its folder the sweep folder (one process for all its trials). */
  /** The run queue's runner (`queue --queue-dir`): it trains the entries of folder/queue.json. */
  async startQueue(folder: string, cwd: string): Promise<RunProcess> {
    return this.spawnTrainer(folder, trainerArguments(distributedLaunch(''), ['queue', '--queue-dir', folder]), cwd);
  }

  /** `maxTrials`: configurations in all (adds trials to a sampled sweep), else the file's max_trials. */
  async startSweep(sweepFile: string, folder: string, cwd: string, resume: boolean, maxTrials?: number): Promise<RunProcess> {
    const args = ['sweep', '--sweep', sweepFile, '--sweep-dir', folder, ...(resume ? ['--resume'] : []),
      ...(maxTrials !== undefined ? ['--max-trials', String(maxTrials)] : [])];
    return this.spawnTrainer(folder, trainerArguments(distributedLaunch(''), args), cwd);
  }

  private async launch(dir: string, args: string[], cwd: string, configPath: string, overrides: string[]): Promise<RunProcess> {
    try {
      let configText = '';
      try {
        configText = await fs.readFile(configPath, 'utf8');
      } catch {
        // The trainer reports a missing or unreadable config, naming it.
      }
      return await this.spawnTrainer(dir, trainerArguments(distributedLaunch(configText, overrides), args), cwd);
    } catch (error) {
      await removeIfEmpty(dir);
      throw error;
    }
  }

  private async spawnTrainer(dir: string, pythonArgs: string[], cwd: string): Promise<RunProcess> {
    const env = await this.environment();
    const child = spawn(env.python, pythonArgs, {
      cwd: trainerCwd(env, cwd), env: trainerEnv(env.trainerDir), detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = new Emitter<RunOutput>();
    let stderrTail = '';
    child.stdout?.on('data', (chunk: Buffer) => output.fire({ stream: 'stdout', text: chunk.toString() }));
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderrTail = (stderrTail + text).slice(-4000);
      output.fire({ stream: 'stderr', text });
    });
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (error) => reject(new Error(`cannot start ${env.python}: ${error.message}`)));
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderrTail: string }>((resolve) => {
      child.once('close', (code, signal) => {
        this.processes.delete(dir);
        // A trainer that refused its config wrote nothing: leave no empty run folder behind.
        void removeIfEmpty(dir).finally(() => resolve({ code, signal, stderrTail }));
      });
    });
    await spawned;
    const run: RunProcess = { dir, pid: child.pid ?? 0, child, output, exited };
    this.processes.set(dir, run);
    return run;
  }

  /**
   * Stop a run, whether this manager started it or it was reattached: SIGINT to its process group,
   * wait until run.json says it ended (the trainer checkpoints first), and after `timeoutMs` kill
   * the group and record that in run.json.
   */
  async stop(dir: string, timeoutMs: number): Promise<StopOutcome> {
    const meta = await readRunMeta(dir);
    const own = this.processes.get(dir);
    const pid = own?.pid ?? (typeof meta === 'string' ? 0 : meta.pid);
    const alive = () => (own ? own.child.exitCode === null && own.child.signalCode === null : isPidAlive(pid));
    if (!pid || !alive()) return 'not-running';
    killGroup(pid, 'SIGINT');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!alive()) return 'stopped';
      await sleep(100);
    }
    killGroup(pid, 'SIGKILL');
    for (let i = 0; i < 50 && alive(); i++) await sleep(100);
    await markKilled(dir, timeoutMs);
    return 'killed';
  }
}

async function removeIfEmpty(dir: string): Promise<void> {
  try {
    await fs.rmdir(dir);  // fails, harmlessly, unless the folder is empty
  } catch {
    // not empty, or already gone
  }
}

/**
 * The trainer was killed before it could write its own status: say so in run.json, atomically. The
 * file is patched as it was written: the lenient reader's defaults for fields it lacked (a newer or
 * foreign trainer's run.json) are never written back as if the trainer had said them.
 */
export async function markKilled(dir: string, timeoutMs: number): Promise<void> {
  const meta = await readRunMeta(dir);
  if (typeof meta === 'string' || (TERMINAL_STATUSES as readonly string[]).includes(meta.status)) return;
  const target = join(dir, RUN_FOLDER.run);
  const written = JSON.parse(await fs.readFile(target, 'utf8')) as Record<string, unknown>;
  const last = meta.checkpoints[meta.checkpoints.length - 1];
  const now = Date.now() / 1000;
  const error: RunError = {
    type: 'killed', step: meta.step, traceback: null,
    message: `The trainer did not stop within ${Math.round(timeoutMs / 1000)} s of the stop request and was killed`
      + (last ? `; resume continues from the checkpoint at step ${last.step}.` : '; it had no checkpoint yet.'),
  };
  const updated: Partial<RunMeta> & Record<string, unknown> = { ...written, status: 'failed', ended_at: now, updated_at: now, error };
  const tmp = join(dir, `.run.json.${process.pid}.tmp`);
  await fs.writeFile(tmp, JSON.stringify(updated, null, 2) + '\n');
  await fs.rename(tmp, target);
}

/** Why `text` cannot be the new total of a completed run that trained `completed` steps (for the
 * Train Further input box), or undefined when it can. The trainer extends a run only to more steps. */
export function furtherStepsProblem(text: string, completed: number): string | undefined {
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) return 'a whole number of steps, e.g. ' + String(completed * 2);
  if (value <= completed) return `more than the ${completed} steps the run already completed`;
  return undefined;
}
