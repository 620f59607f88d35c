/**
 * The webview code is browser code: it may import its own files, the shared contracts and browser
 * packages, never host code (src/) or Node built-ins. webview/tsconfig.json has no Node types; this
 * test checks every import statement, so a host import fails here even if it would type-check.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../helpers';

const ALLOWED_PACKAGES = [/^uplot$/, /^@vscode-elements\/elements\//];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

export function forbiddenImports(file: string, source: string): string[] {
  const problems: string[] = [];
  for (const match of source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*['"]([^'"]+)['"]/g)) {
    const specifier = (match[1] ?? match[2]) as string;
    if (specifier.startsWith('.')) {
      const target = relative(ROOT, resolve(dirname(file), specifier));
      if (!target.startsWith('webview/') && !target.startsWith('contracts/')) problems.push(`${relative(ROOT, file)} imports ${specifier} (${target})`);
    } else if (!ALLOWED_PACKAGES.some((allowed) => allowed.test(specifier))) {
      problems.push(`${relative(ROOT, file)} imports the package ${specifier}`);
    }
  }
  return problems;
}

describe('webview boundary', () => {
  it('webview/ imports only webview/, contracts/ and browser packages', () => {
    const sources = files(join(ROOT, 'webview'));
    assert.ok(sources.length >= 8, 'the webview sources were not found');
    assert.deepEqual(sources.flatMap((file) => forbiddenImports(file, readFileSync(file, 'utf8'))), []);
  });

  it('the check catches a host import and a Node built-in', () => {
    const file = join(ROOT, 'webview', 'dashboard', 'x.ts');
    assert.equal(forbiddenImports(file, "import { RunStore } from '../../src/core/runStore';").length, 1);
    assert.equal(forbiddenImports(file, "import { readFileSync } from 'node:fs';").length, 1);
    assert.equal(forbiddenImports(file, "import type { SampleRecord } from '../../contracts/run-directory';").length, 0);
  });
});
