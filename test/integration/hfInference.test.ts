/**
 * Hugging Face models in the playground: an export made by the real trainer (GPT-2 with a byte-level
 * BPE, Llama with a chat template) runs in onnxruntime-node with its tokenizer.json read by
 * @huggingface/tokenizers: the token ids and texts equal the trainer's, and the logits equal PyTorch's.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OrtKvModel } from '../../src/inference/ortModel';
import { encodePrompt, sample } from '../../src/inference/sampler';
import { ROOT, TRAINER, tempDir, testPython } from '../helpers';

interface ArchReference {
  export: string;
  texts: string[];
  encoded: number[][];
  decode: { ids: number[]; text: string }[];
  cases: { ids: number[][]; mask: number[][]; last_logits: number[][] }[];
  eos_id: number;
}

describe('Hugging Face models in the playground', () => {
  let reference: Record<'gpt2' | 'llama', ArchReference>;
  const models = new Map<string, OrtKvModel>();
  before(async () => {
    const out = tempDir('bond-hf-onnx-');
    reference = JSON.parse(execFileSync(testPython(), [join(ROOT, 'test', 'fixtures', 'hf_inference_reference.py'), out],
      { encoding: 'utf8', env: { ...process.env, PYTHONPATH: TRAINER, PYTHONWARNINGS: 'ignore' }, timeout: 300_000 })) as typeof reference;
    for (const arch of ['gpt2', 'llama'] as const) models.set(arch, await OrtKvModel.load(reference[arch].export));
  });
  after(async () => {
    for (const model of models.values()) await model.dispose();
  });

  for (const arch of ['gpt2', 'llama'] as const) {
    it(`${arch}: prompts tokenize to the trainer's ids (non-ASCII, empty${arch === 'llama' ? ', chat template' : ''})`, () => {
      const model = models.get(arch)!;
      const ref = reference[arch];
      ref.texts.forEach((text, i) => assert.deepEqual(model.tokenizer.encode(text), ref.encoded[i], JSON.stringify(text)));
      if (arch === 'llama') assert.equal(model.info.tokenizer.type === 'hf' && model.info.tokenizer.chat?.prefix, '<|user|>');
    });

    it(`${arch}: completions decode to the trainer's text`, () => {
      const model = models.get(arch)!;
      for (const { ids, text } of reference[arch].decode) assert.equal(model.tokenizer.decode(ids), text, JSON.stringify(ids));
    });

    it(`${arch}: onnxruntime logits equal PyTorch within 1e-4, left-padded`, async () => {
      const model = models.get(arch)!;
      for (const c of reference[arch].cases) {
        const batch = c.ids.length;
        const length = c.ids[0]?.length ?? 0;
        const { lastLogits, past } = await model.run(BigInt64Array.from(c.ids.flat().map(BigInt)), batch, length,
          BigInt64Array.from(c.mask.flat().map(BigInt)), null);
        model.release(past);
        let worst = 0;
        c.last_logits.flat().forEach((value, i) => {
          worst = Math.max(worst, Math.abs(value - (lastLogits[i] as number)));
        });
        assert.ok(worst <= 1e-4, `batch ${batch} × ${length}: max |Δ| ${worst}`);
      }
    });

    it(`${arch}: the KV cache samples what the full prefix does, and texts come from the tokenizer`, async () => {
      const model = models.get(arch)!;
      const prompt = encodePrompt('the food was', model.info, 16, model.tokenizer);
      const options = { maxNewTokens: 16, temperature: 1, topK: 0, topP: 1, seed: 3 };
      const cached = await sample(model, [prompt, prompt], options);
      const full = await sample(model, [prompt, prompt], { ...options, useCache: false });
      assert.deepEqual(cached.map((c) => c.tokens), full.map((c) => c.tokens));
      for (const c of cached) assert.equal(c.text, model.tokenizer.decode(c.tokens));
    });
  }
});
