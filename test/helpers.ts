/** Shared by the TypeScript tests: paths, temp folders, waiting. */
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The repo root (tests run compiled from out/test/...). */
export const ROOT = join(__dirname, '..', '..');
export const FIXTURES = join(ROOT, 'contracts', 'fixtures');
export const FAKE_TRAINER = join(ROOT, 'test', 'fixtures', 'fake_trainer');
export const TRAINER = join(ROOT, 'trainer');

/** The Python the tests use: scripts/test exports BOND_PYTHON (the trainer's venv). */
export function testPython(): string {
  const python = process.env.BOND_PYTHON;
  if (!python) throw new Error('BOND_PYTHON is not set: run the tests through scripts/test (it sets up Python)');
  return python;
}

export function tempDir(prefix = 'bond-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Wait for something that makes progress (a run's step): it fails when the progress has not moved for
 * `stallMs`, or after `limitMs` in all, so that a loaded machine's slow run is waited for while a
 * stuck one is not. `probe` says whether it is done, and how far it is.
 */
export async function waitForProgress(probe: () => { done: boolean; progress: string } | undefined, what: string,
  stallMs: number, limitMs: number): Promise<void> {
  const started = Date.now();
  let last = '';
  let movedAt = started;
  for (;;) {
    const now = probe();
    if (now?.done) return;
    if (now && now.progress !== last) {
      last = now.progress;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > stallMs) throw new Error(`${what}: no progress for ${stallMs} ms (stuck at ${last || 'nothing yet'})`);
    if (Date.now() - started > limitMs) throw new Error(`${what}: not done within ${limitMs} ms (at ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(path, 'utf8')) as Record<string, unknown>;
}
