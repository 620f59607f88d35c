/**
 * Playground inference bench (not a test): the ONNX sampler with the KV cache against the same
 * sampler re-running the whole prefix for every token, on onnxruntime-node's CPU backend.
 *   BOND_PYTHON=.venv/bin/python npm run bench:inference
 * The model is the demo's size (2 layers, width 128, random weights), exported by the trainer.
 * Random weights rarely emit EOS, so every row runs to the full length.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { OrtKvModel } from '../src/inference/ortModel';
import { sample } from '../src/inference/sampler';
import { TRAINER, tempDir, testPython } from '../test/helpers';

async function main(): Promise<void> {
  const out = tempDir('bond-bench-onnx-');
  execFileSync(testPython(), ['-c', [
    'import sys, torch', 'from bond_trainer.models.byte_gpt import GPTModelSpec, GPTModule, save_byte_gpt',
    'torch.manual_seed(0)', `save_byte_gpt(GPTModule(GPTModelSpec(layers=2, heads=4, width=128, context=128)), "${join(out, 'model.pt')}")`,
  ].join('\n')], { env: { ...process.env, PYTHONPATH: TRAINER } });
  execFileSync(testPython(), ['-m', 'bond_trainer', 'export-onnx', '--checkpoint', join(out, 'model.pt'), '--out', join(out, 'export')],
    { env: { ...process.env, PYTHONPATH: TRAINER }, stdio: 'ignore' });
  const model = await OrtKvModel.load(join(out, 'export'));
  console.log(`# inference bench — onnxruntime-node CPU, Node ${process.version}, model 2x128 (demo size)`);
  console.log('\n| batch | new tokens | KV cache tokens/s | full prefix tokens/s | speed-up |');
  console.log('|---:|---:|---:|---:|---:|');
  for (const [batch, tokens] of [[1, 32], [8, 64], [32, 96]] as const) {
    const prompts = Array.from({ length: batch }, (_, i) => [...new TextEncoder().encode(`prompt number ${i}: the food`)]);
    const options = { maxNewTokens: tokens, temperature: 1, topK: 0, topP: 1, seed: 1 };
    const rate = async (useCache: boolean): Promise<number> => {
      await sample(model, prompts, { ...options, maxNewTokens: 4, useCache }); // warm-up
      const times: number[] = [];
      let generated = 0;
      for (let repeat = 0; repeat < 3; repeat++) {
        const start = performance.now();
        const completions = await sample(model, prompts, { ...options, useCache });
        times.push((performance.now() - start) / 1000);
        generated = completions.reduce((sum, c) => sum + c.tokens.length, 0);
      }
      return generated / [...times].sort((a, b) => a - b)[1]!;
    };
    const cached = await rate(true);
    const full = await rate(false);
    console.log(`| ${batch} | ${tokens} | ${cached.toFixed(0)} | ${full.toFixed(0)} | ${(cached / full).toFixed(2)}x |`);
  }
  await model.dispose();
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
