/**
 * An ONNX reward model for the playground: inputs `input_ids` [batch, length] int64 (the UTF-8
 * bytes of prompt + completion, left-padded with 257) and `attention_mask` [batch, length] int64;
 * its first output holds one score per row ([batch] or [batch, 1]). Loaded in the worker only.
 */
import type { InferenceSession as Session, Tensor as OrtTensor } from 'onnxruntime-node';

export const REWARD_PAD_ID = 257;

export class OnnxRewardModel {
  private constructor(private readonly session: Session, readonly path: string) {}

  static async load(path: string): Promise<OnnxRewardModel> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const session = await ort.InferenceSession.create(path, { executionProviders: ['cpu'] });
    const inputs = session.inputNames;
    if (inputs.length !== 2 || !inputs.includes('input_ids') || !inputs.includes('attention_mask')) {
      await session.release();
      throw new Error(`${path}: a reward model takes exactly the inputs input_ids and attention_mask (this one takes ${inputs.join(', ')})`);
    }
    return new OnnxRewardModel(session, path);
  }

  async score(prompt: string, completions: readonly string[]): Promise<number[]> {
    if (!completions.length) return [];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Tensor } = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const encoder = new TextEncoder();
    const rows = completions.map((c) => [...encoder.encode(prompt + c)]);
    const width = Math.max(1, ...rows.map((r) => r.length));
    const ids = new BigInt64Array(rows.length * width).fill(BigInt(REWARD_PAD_ID));
    const mask = new BigInt64Array(rows.length * width);
    rows.forEach((row, r) => row.forEach((byte, i) => {
      ids[r * width + width - row.length + i] = BigInt(byte);
      mask[r * width + width - row.length + i] = 1n;
    }));
    const out = await this.session.run({
      input_ids: new Tensor('int64', ids, [rows.length, width]),
      attention_mask: new Tensor('int64', mask, [rows.length, width]),
    });
    const first = out[this.session.outputNames[0] as string] as OrtTensor;
    const values = Array.from(first.data as Float32Array, Number);
    if (values.length !== rows.length) throw new Error(`${this.path}: the reward model returned ${values.length} scores for ${rows.length} texts`);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${this.path}: the reward model returned ${values[bad]} for ${JSON.stringify(completions[bad]?.slice(0, 80))}`);
    return values;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
