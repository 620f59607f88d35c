/**
 * An exported model run by onnxruntime-node (CPU). Loaded only inside the inference worker, so the
 * native library never loads at activation or on the extension host's thread.
 */
import { join } from 'node:path';
import type { InferenceSession as Session, Tensor as OrtTensor } from 'onnxruntime-node';
import { readModelJson, type ExportedModel } from './modelInfo';
import { byteTokenizer, type KvModel, type TextTokenizer } from './sampler';
import { loadHfTokenizer } from './tokenizer';

type Ort = typeof import('onnxruntime-node');
let ort: Ort | undefined;
function runtime(): Ort {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ort ??= require('onnxruntime-node') as Ort;
  return ort;
}

export type Past = OrtTensor[];

export class OrtKvModel implements KvModel<Past> {
  private constructor(readonly info: ExportedModel, private readonly session: Session, readonly tokenizer: TextTokenizer) {}

  /** folder: an export folder holding model.onnx and model.json (and a Hugging Face model's tokenizer files) */
  static async load(folder: string): Promise<OrtKvModel> {
    const info = await readModelJson(join(folder, 'model.json'));
    const tokenizer = info.tokenizer.type === 'hf' ? await loadHfTokenizer(folder, info.tokenizer, info.eosId) : byteTokenizer(info);
    const session = await runtime().InferenceSession.create(join(folder, 'model.onnx'), { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
    return new OrtKvModel(info, session, tokenizer);
  }

  async run(inputIds: BigInt64Array, batch: number, newTokens: number, mask: BigInt64Array, past: Past | null): Promise<{ lastLogits: Float32Array; past: Past }> {
    const { Tensor } = runtime();
    const { info } = this;
    const total = mask.length / batch;
    const feeds: Record<string, OrtTensor> = {
      input_ids: new Tensor('int64', inputIds, [batch, newTokens]),
      attention_mask: new Tensor('int64', mask, [batch, total]),
    };
    const pastNames = info.inputs.slice(2);
    pastNames.forEach((name, i) => {
      feeds[name] = past?.[i] ?? new Tensor('float32', new Float32Array(0), [batch, info.heads, 0, info.headDim]);
    });
    const out = await this.session.run(feeds);
    const logits = out[info.outputs[0] as string] as OrtTensor;
    const data = logits.data as Float32Array;
    const vocab = info.vocabSize;
    const last = new Float32Array(batch * vocab);
    for (let b = 0; b < batch; b++) last.set(data.subarray((b * newTokens + newTokens - 1) * vocab, (b * newTokens + newTokens) * vocab), b * vocab);
    logits.dispose();
    return { lastLogits: last, past: info.outputs.slice(1).map((name) => out[name] as OrtTensor) };
  }

  release(past: Past): void {
    for (const tensor of past) tensor.dispose();
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
