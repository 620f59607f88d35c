/**
 * Headless BOND Studio: `node dist/cli.js run CONFIG [--set k=v …] [--runs-dir DIR]`, `demo`, `check`.
 * Uses the extension's own run manager and run store; progress comes from the run files (never
 * from the trainer's human output), and the summary from run.json.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RUN_FOLDER, type MetricRecord, type RunMeta } from '../contracts/run-directory';
import { EXIT_BAD_INPUT } from '../contracts/trainer-cli';
import { formatDuration, progressBar, summaryLines } from './core/format';
import { bootstrapPython, defaultCandidates, honoursSafePath, resolvePython, trainerEnv, type TrainerEnvironment } from './core/python';
import { RunManager } from './core/runManager';
import { RunStore, readRunMeta } from './core/runStore';
import { prepareDemoArgs, resumeCommandLine } from './core/trainerCli';

const ROOT = resolve(__dirname, '..');
const TRAINER_DIR = join(ROOT, 'trainer');
const USAGE = `usage:
  node dist/cli.js run CONFIG [--set section.field=value ...] [--runs-dir DIR]
  node dist/cli.js demo [--set section.field=value ...]
  node dist/cli.js check`;

class UsageError extends Error {}

interface RunArgs {
  config: string;
  overrides: string[];
  runsDirectory?: string;
}

function parseRunArgs(args: string[], needConfig: boolean): RunArgs {
  const out: RunArgs = { config: '', overrides: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--set' || arg === '--runs-dir') {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      if (arg === '--set') out.overrides.push(value);
      else out.runsDirectory = resolve(value);
    } else if (arg.startsWith('--')) {
      throw new UsageError(`unknown option ${arg}`);
    } else if (needConfig && !out.config) {
      out.config = resolve(arg);
    } else {
      throw new UsageError(`unexpected argument ${arg}`);
    }
  }
  if (needConfig && !out.config) throw new UsageError('the config file is missing');
  if (needConfig && !existsSync(out.config)) throw new UsageError(`config ${out.config} does not exist`);
  return out;
}

async function environment(): Promise<TrainerEnvironment> {
  const venv = process.env.BOND_VENV_DIR ?? join(ROOT, '.venv');
  const found = await resolvePython(defaultCandidates(venv), TRAINER_DIR);
  if (found.ok) return { python: found.python, trainerDir: TRAINER_DIR, safePath: honoursSafePath(found.report.python.version) };
  for (const problem of found.problems) process.stderr.write(`python: ${problem}\n`);
  process.stderr.write('setting up Python for the trainer (scripts/bootstrap-python)…\n');
  const python = await bootstrapPython(ROOT, venv, (text) => process.stderr.write(text));
  return { python, trainerDir: TRAINER_DIR };
}

function printProgress(meta: RunMeta, latest: MetricRecord | undefined, startedMs: number, tty: boolean): void {
  const step = latest?.step ?? meta.step;
  const rate = step > 0 ? (Date.now() - startedMs) / 1000 / step : 0;
  const eta = rate ? formatDuration(rate * (meta.total_steps - step)) : '?';
  const reward = typeof latest?.['reward/policy'] === 'number' ? ` reward ${(latest['reward/policy'] as number).toFixed(3)}` : '';
  const bon = typeof latest?.['reward/bon'] === 'number' ? ` (best-of-n ${(latest['reward/bon'] as number).toFixed(3)})` : '';
  const kl = typeof latest?.['kl/policy_ref'] === 'number' ? ` KL ${(latest['kl/policy_ref'] as number).toFixed(3)}` : '';
  const line = `${progressBar(step, meta.total_steps, 24)} ${step}/${meta.total_steps}${reward}${bon}${kl} ETA ${eta}`;
  process.stdout.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
}

async function run(args: RunArgs, env: TrainerEnvironment): Promise<number> {
  const cwd = dirname(args.config);
  const runsDirectory = args.runsDirectory ?? join(process.cwd(), '.bond', 'runs');
  const manager = new RunManager(async () => env);
  const handle = await manager.start({ configPath: args.config, runsDirectory, cwd, overrides: args.overrides });
  process.stdout.write(`run folder ${handle.dir}\n`);
  const tty = Boolean(process.stdout.isTTY);
  const store = new RunStore({ runsDirectories: () => [runsDirectory], pollIntervalMs: 500 });
  const startedMs = Date.now();
  let lastPrinted = -1;
  store.onDidAppendMetrics((event) => {
    if (event.dir !== handle.dir) return;
    const state = store.get(handle.dir);
    if (!state) return;
    for (const record of event.records) {
      if (record.kind !== 'eval') continue;
      const win = record['eval/win_rate_vs_bon'] as number;
      process.stdout.write(`${tty ? '\r\x1b[2K' : ''}  eval @ ${record.step}: reward ${(record['eval/reward/policy'] as number).toFixed(3)} `
        + `(ref ${(record['eval/reward/ref'] as number).toFixed(3)}, best-of-N ${(record['eval/reward/bon'] as number).toFixed(3)}) `
        + `effective N ${(record['eval/effective_n'] as number).toFixed(2)}, win rate ${win.toFixed(2)}\n`);
    }
    const step = state.latest?.step ?? 0;
    // On a terminal redraw every update; in a log, one line per 10% of the run.
    if (tty || Math.floor((step * 10) / state.meta.total_steps) !== Math.floor((lastPrinted * 10) / state.meta.total_steps)) {
      printProgress(state.meta, state.latest, startedMs, tty);
      lastPrinted = step;
    }
  });
  await store.start();
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nstopping: the trainer finishes its step and writes a checkpoint…\n');
    void manager.stop(handle.dir, 60_000);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const exit = await handle.exited;
  await store.refresh();
  store.dispose();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  if (tty) process.stdout.write('\n');
  const meta = await readRunMeta(handle.dir);
  if (exit.code === EXIT_BAD_INPUT || typeof meta === 'string') {
    process.stderr.write(exit.stderrTail || `the trainer exited with ${exit.code}\n`);
    return exit.code ?? 1;
  }
  if (meta.status === 'completed') {
    for (const line of summaryLines(meta)) process.stdout.write(`${line}\n`);
  } else if (meta.status === 'stopped' || meta.status === 'pruned') {
    process.stdout.write(`${meta.status} at step ${meta.step}/${meta.total_steps}; resume with the extension's Resume Run, `
      + `or: ${resumeCommandLine(meta.config_path, handle.dir)}\n`);
  } else {
    process.stderr.write(`run ${meta.status}${meta.error ? `: ${meta.error.message}` : ''}\n`);
    process.stderr.write(`trainer log: ${join(handle.dir, RUN_FOLDER.log)}\n`);
  }
  return exit.code ?? 1;
}

async function prepareDemo(env: TrainerEnvironment): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(env.python, prepareDemoArgs(), {
      cwd: ROOT, env: trainerEnv(env.trainerDir), stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`preparing the demo failed (exit ${code})`))));
  });
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'run') {
      const args = parseRunArgs(rest, true);
      return await run(args, await environment());
    }
    if (command === 'demo') {
      const args = parseRunArgs(rest, false);
      const env = await environment();
      await prepareDemo(env);
      return await run({ ...args, config: join(ROOT, 'examples', 'demo', 'demo.bond.json') }, env);
    }
    if (command === 'check') {
      const env = await environment();
      const found = await resolvePython([{ source: 'trainer', path: env.python }], TRAINER_DIR);
      process.stdout.write(`${JSON.stringify(found.ok ? found.report : found, null, 2)}\n`);
      return found.ok ? 0 : 1;
    }
    throw new UsageError(command ? `unknown command ${command}` : 'no command given');
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n${USAGE}\n`);
      return EXIT_BAD_INPUT;
    }
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
