/**
 * Batched sampling for a model exported by `bond_trainer export-onnx` (byte GPT or Hugging Face), mirroring the trainer's
 * sampler (trainer/bond_trainer/sampling/sequences.py): left padding, positions that skip padding, a KV
 * cache, temperature / top-k / top-p, EOS ends a row. Pure: the model is injected, so the tests can
 * run it with or without the cache and the worker runs it with onnxruntime.
 */

/** Text ↔ token ids for one model: UTF-8 bytes for the byte GPT, tokenizer.json for Hugging Face models. */
export interface TextTokenizer {
  /** the prompt as the model expects it (a chat model's template around it), as token ids */
  encode(text: string): number[];
  /** a completion's tokens as text (EOS and special tokens left out) */
  decode(tokens: readonly number[]): string;
}

export interface ModelInfo {
  vocabSize: number;
  eosId: number;
  padId: number;
  context: number;
  layers: number;
  heads: number;
  headDim: number;
}

/** One forward pass: new tokens [batch, newTokens], mask [batch, total]; returns each row's last logits. */
export interface KvModel<Past> {
  readonly info: ModelInfo;
  /** absent: the byte GPT's UTF-8 bytes */
  readonly tokenizer?: TextTokenizer;
  run(inputIds: BigInt64Array, batch: number, newTokens: number, mask: BigInt64Array, past: Past | null): Promise<{ lastLogits: Float32Array; past: Past }>;
  release?(past: Past): void;
}

export interface SamplingOptions {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
  /** false: re-run the whole prefix for every token (the bench's baseline; same tokens) */
  useCache?: boolean;
}

export interface Completion {
  tokens: number[];
  text: string;
  truncated: boolean;
}

export class Cancelled extends Error {
  constructor() {
    super('generation cancelled');
  }
}

/** mulberry32: a small seeded PRNG, so a seed gives the same samples every time. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function byteTokenizer(info: Pick<ModelInfo, 'eosId'>): TextTokenizer {
  return {
    encode: (text) => [...new TextEncoder().encode(text)],
    decode: (tokens) => new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(tokens.filter((t) => t < 256 && t !== info.eosId))),
  };
}

/** Keep the prompt's last tokens so the completion fits in the context (as encode_prompts does). */
export function encodePrompt(prompt: string, info: ModelInfo, maxNewTokens: number, tokenizer: TextTokenizer = byteTokenizer(info)): number[] {
  const room = info.context - maxNewTokens;
  if (room < 1) throw new RangeError(`max tokens ${maxNewTokens} leaves no room for a prompt in the model's context of ${info.context} tokens: set max tokens below ${info.context}`);
  const kept = tokenizer.encode(prompt).slice(-room);
  return kept.length ? kept : [info.eosId];
}

export function decode(tokens: readonly number[], info: ModelInfo): string {
  return byteTokenizer(info).decode(tokens);
}

/** Draw one token from logits with temperature, top-k and top-p (nucleus; at least one token kept). */
export function drawToken(logits: Float32Array, options: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>, random: () => number): number {
  const n = logits.length;
  if (options.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < n; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
    return best;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (logits[b] as number) - (logits[a] as number));
  const keep = options.topK > 0 ? Math.min(options.topK, n) : n;
  const max = logits[order[0] as number] as number;
  const weights = order.slice(0, keep).map((i) => Math.exp(((logits[i] as number) - max) / options.temperature));
  let total = weights.reduce((a, b) => a + b, 0);
  let cut = weights.length;
  if (options.topP < 1) {
    let cumulative = 0;
    for (let i = 0; i < weights.length; i++) {
      cumulative += (weights[i] as number) / total;
      if (cumulative >= options.topP) {
        cut = i + 1;
        break;
      }
    }
    total = weights.slice(0, cut).reduce((a, b) => a + b, 0);
  }
  let u = random() * total;
  for (let i = 0; i < cut; i++) {
    u -= weights[i] as number;
    if (u <= 0) return order[i] as number;
  }
  return order[cut - 1] as number;
}

/**
 * Sample one completion per prompt (token ids), all rows in one batch. `shouldStop` is checked before
 * every token step, so a cancel lands within one step; `onStep` reports progress.
 */
export async function sample<Past>(model: KvModel<Past>, prompts: number[][], options: SamplingOptions,
  shouldStop: () => boolean = () => false, onStep?: (done: number, total: number) => void): Promise<Completion[]> {
  const { info } = model;
  const batch = prompts.length;
  const width = Math.max(...prompts.map((p) => p.length));
  const random = seededRandom(options.seed);
  // rows: every token so far (left-padded prompt + generated), and its mask
  const rows = prompts.map((p) => [...new Array<number>(width - p.length).fill(info.padId), ...p]);
  const masks = prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  const generated: number[][] = prompts.map(() => []);
  const finished = new Array<boolean>(batch).fill(false);
  let past: Past | null = null;
  let pending = rows.map((r) => [...r]); // what the next forward pass feeds
  try {
    for (let step = 0; step < options.maxNewTokens; step++) {
      if (shouldStop()) throw new Cancelled();
      const useCache = options.useCache !== false;
      const feed = useCache ? pending : rows;
      const newTokens = feed[0]?.length ?? 0;
      const ids = BigInt64Array.from(feed.flat().map((t) => BigInt(t)));
      const mask = BigInt64Array.from(masks.flat().map((m) => BigInt(m)));
      const result = await model.run(ids, batch, newTokens, mask, useCache ? past : null);
      if (past && model.release) model.release(past);
      past = useCache ? result.past : null;
      if (!useCache && model.release) model.release(result.past);
      const next: number[][] = [];
      for (let b = 0; b < batch; b++) {
        let token = drawToken(result.lastLogits.subarray(b * info.vocabSize, (b + 1) * info.vocabSize), options, random);
        if (finished[b]) token = info.padId;
        else generated[b]?.push(token);
        const ended = token === info.eosId;
        (masks[b] as number[]).push(!finished[b] || ended ? 1 : 0);
        if (ended) finished[b] = true;
        (rows[b] as number[]).push(token);
        next.push([token]);
      }
      pending = next;
      onStep?.(step + 1, options.maxNewTokens);
      if (finished.every(Boolean)) break;
    }
  } finally {
    if (past && model.release) model.release(past);
  }
  return generated.map((tokens) => ({
    tokens,
    text: model.tokenizer ? model.tokenizer.decode(tokens) : decode(tokens, info),
    truncated: tokens.at(-1) !== info.eosId,
  }));
}
