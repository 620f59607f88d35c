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

export async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await fs.readFile(path, 'utf8')) as Record<string, unknown>;
}
