import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseJsonc } from 'jsonc-parser';
import { copyDemoFiles, DEMO_FILES, isDemoWorkspace, pretrainDemoReference } from '../../src/demoWorkspace';
import { readPretrainProgress } from '../../src/core/trainerCli';
import { ROOT, tempDir } from '../helpers';

const never = { isCancellationRequested: false, onCancellationRequested: () => undefined };

describe('demo workspace', () => {
  it('copies the demo configs and prompts, drops the checkout-relative $schema, and keeps files already there', async () => {
    const target = tempDir('bond-demo-ws-');
    writeFileSync(join(target, 'prompts-eval.jsonl'), '{"prompt": "mine"}\n');
    const { written, kept } = await copyDemoFiles(ROOT, target);
    assert.deepEqual(kept, ['prompts-eval.jsonl']);
    assert.deepEqual(written, DEMO_FILES.filter((f) => f !== 'prompts-eval.jsonl'));
    assert.equal(readFileSync(join(target, 'prompts-eval.jsonl'), 'utf8'), '{"prompt": "mine"}\n', 'the user\'s file is not overwritten');
    const config = parseJsonc(readFileSync(join(target, 'demo.bond.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(config.$schema, undefined);
    assert.deepEqual(config.policy, { checkpoint: 'build/reference.pt' });
    const original = parseJsonc(readFileSync(join(ROOT, 'examples', 'demo', 'demo.bond.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual({ ...original, $schema: undefined }, { ...config, $schema: undefined }, 'nothing else changes');
    assert.equal(readFileSync(join(target, 'prompts-train.jsonl'), 'utf8'), readFileSync(join(ROOT, 'examples', 'demo', 'prompts-train.jsonl'), 'utf8'));
  });

  it('reads the trainer\'s pretraining lines as progress and reports its failure with its last words', async () => {
    assert.deepEqual(readPretrainProgress('  pretrain step 300/700  loss 0.304 nats/byte'), { step: 300, total: 700 });
    assert.equal(readPretrainProgress('[1/2] pretraining the reference model'), undefined);
    const target = tempDir('bond-demo-ws-');
    // A stand-in interpreter that prints what `demo --prepare-only` prints, checks its arguments, then fails.
    const fake = join(target, 'fake-python');
    writeFileSync(fake, `#!/bin/sh
[ "$3" = demo ] && [ "$4" = --prepare-only ] && [ "$5" = --reference ] && [ "$6" = "${join(target, 'build', 'reference.pt')}" ] || { echo "bad args: $*" >&2; exit 3; }
echo "  pretrain step 100/700  loss 0.7 nats/byte"; echo "  pretrain step 200/700  loss 0.3 nats/byte"; echo "out of memory" >&2; exit 1
`);
    chmodSync(fake, 0o755);
    const progress: number[] = [];
    await assert.rejects(pretrainDemoReference({ python: fake, trainerDir: target }, target, (p) => progress.push(p.step), () => undefined, never),
      /exit 1\).*out of memory/);
    assert.deepEqual(progress, [100, 200]);
    assert.equal(isDemoWorkspace(target), false, 'no config, no reference: not a demo workspace');
    mkdirSync(join(target, 'build'));
    writeFileSync(join(target, 'build', 'reference.pt'), 'x');
    assert.equal(isDemoWorkspace(target), false, 'a reference without the config is not one either');
    await copyDemoFiles(ROOT, target);
    assert.equal(isDemoWorkspace(target), true);
    assert.equal(await pretrainDemoReference({ python: fake, trainerDir: target }, target, () => undefined, () => undefined, never), 'cached');
    assert.ok(existsSync(join(target, 'build', 'reference.pt')));
  });
});
