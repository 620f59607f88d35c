/**
 * ONNX inference in Node: an export made by the real trainer, run by onnxruntime-node, equals
 * PyTorch; KV-cache sampling equals full-prefix sampling; a seed repeats; cancel lands within one
 * token step; the worker thread answers and cancels.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InferenceClient } from '../../src/inference/client';
import { OrtKvModel, type Past } from '../../src/inference/ortModel';
import { OnnxRewardModel } from '../../src/inference/rewardModel';
import { Cancelled, sample, type KvModel, type SamplingOptions } from '../../src/inference/sampler';
import { ROOT, TRAINER, tempDir, testPython } from '../helpers';

interface Reference { export: string; reward_model: string; cases: { ids: number[][]; mask: number[][]; last_logits: number[][] }[] }

describe('ONNX inference', () => {
  let reference: Reference;
  let model: OrtKvModel;
  before(async () => {
    const out = tempDir('bond-onnx-');
    reference = JSON.parse(execFileSync(testPython(), [join(ROOT, 'test', 'fixtures', 'inference_reference.py'), out],
      { encoding: 'utf8', env: { ...process.env, PYTHONPATH: TRAINER }, timeout: 240_000 })) as Reference;
    model = await OrtKvModel.load(reference.export);
  });
  after(async () => model?.dispose());

  it('onnxruntime logits equal PyTorch within 1e-4 for several batches and lengths, with left padding', async () => {
    for (const c of reference.cases) {
      const batch = c.ids.length;
      const length = c.ids[0]?.length ?? 0;
      const { lastLogits, past } = await model.run(BigInt64Array.from(c.ids.flat().map(BigInt)), batch, length,
        BigInt64Array.from(c.mask.flat().map(BigInt)), null);
      model.release(past);
      const expected = c.last_logits.flat();
      let worst = 0;
      expected.forEach((value, i) => {
        worst = Math.max(worst, Math.abs(value - (lastLogits[i] as number)));
      });
      assert.ok(worst <= 1e-4, `batch ${batch} × ${length}: max |Δ| ${worst}`);
    }
  });

  const options: SamplingOptions = { maxNewTokens: 24, temperature: 1, topK: 0, topP: 1, seed: 7 };
  const prompts = [[104, 105], [1, 2, 3, 4, 5], [66]];

  it('KV-cache decoding gives the same tokens as re-running the full prefix', async () => {
    const cached = await sample(model, prompts, options);
    const full = await sample(model, prompts, { ...options, useCache: false });
    assert.deepEqual(cached.map((c) => c.tokens), full.map((c) => c.tokens));
    assert.ok(cached.some((c) => c.tokens.length > 3), 'the samples are too short to compare');
  });

  it('a fixed seed repeats exactly; another seed differs', async () => {
    const a = await sample(model, prompts, { ...options, topK: 40, topP: 0.9 });
    const b = await sample(model, prompts, { ...options, topK: 40, topP: 0.9 });
    const c = await sample(model, prompts, { ...options, topK: 40, topP: 0.9, seed: 8 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.map((x) => x.tokens), c.map((x) => x.tokens));
  });

  it('cancel stops within one token step', async () => {
    let runs = 0;
    const counting: KvModel<Past> = { info: model.info, run: (...args) => { runs++; return model.run(...args); }, release: (p) => model.release(p) };
    let steps = 0;
    await assert.rejects(sample(counting, prompts, { ...options, temperature: 0 }, () => steps >= 3, (done) => { steps = done; }), Cancelled);
    assert.equal(runs, 3, 'one forward pass per step, none after the cancel');
  });

  it('an ONNX reward model scores the bytes of prompt + completion, padding masked', async () => {
    const reward = await OnnxRewardModel.load(reference.reward_model);
    try {
      assert.deepEqual(await reward.score('', ['aaa', 'b', '', 'banana']), [3, 0, 0, 3]);
      assert.deepEqual(await reward.score('a', ['a', 'x']), [2, 1]);
    } finally {
      await reward.dispose();
    }
    await assert.rejects(OnnxRewardModel.load(join(reference.export, 'model.onnx')), /takes exactly the inputs input_ids and attention_mask \(this one takes input_ids, attention_mask, past_key_0/);
  });

  it('the worker thread generates policy, anchor, Best-of-N candidates and π_ref\'s samples, and cancels', async () => {
    const client = new InferenceClient(join(ROOT, 'dist', 'inferenceWorker.js'));
    try {
      const phases = new Set<string>();
      const request = { policy: reference.export, anchor: reference.export, prompt: 'hello', k: 2, n: 4, options: { ...options, maxNewTokens: 12 } };
      const result = await client.generate(request, (phase) => phases.add(phase)).result;
      assert.ok(result !== 'cancelled');
      assert.equal(result.policy.length, 2);
      assert.equal(result.anchor.length, 2);
      assert.equal(result.candidates.length, 4);
      assert.deepEqual([...phases].sort(), ['anchor', 'policy']);
      // with an ONNX reward model, the worker scores prompt + completion bytes
      const scored = await client.generate({ ...request, prompt: 'a', rewardModel: reference.reward_model }).result;
      assert.ok(scored !== 'cancelled' && scored.rewards);
      const countA = (text: string): number => [...new TextEncoder().encode(`a${text}`)].filter((b) => b === 97).length;
      assert.deepEqual(scored.rewards.candidates, scored.candidates.map((c) => countA(c.text)));
      assert.deepEqual(scored.rewards.policy, scored.policy.map((c) => countA(c.text)));
      // with π_ref's export, K samples of it too (a seed of its own), scored like the others
      const withReference = await client.generate({ ...request, prompt: 'a', reference: reference.export, rewardModel: reference.reward_model },
        (phase) => phases.add(phase)).result;
      assert.ok(withReference !== 'cancelled' && withReference.reference && withReference.rewards?.reference);
      assert.equal(withReference.reference.length, 2);
      assert.deepEqual(withReference.rewards.reference, withReference.reference.map((c) => countA(c.text)));
      assert.ok(phases.has('reference'));
      const handle = client.generate({ ...request, options: { ...options, maxNewTokens: 60 } });
      handle.cancel();
      assert.equal(await handle.result, 'cancelled');
    } finally {
      await client.dispose();
    }
  });
});
