/** model.json beside an exported model.onnx (written by `bond_trainer export-onnx`), validated. */
import { readFile } from 'node:fs/promises';
import type { ModelInfo } from './sampler';

export const EXPORT_FORMAT = 'bond-onnx/1';

/** A Hugging Face model's tokenizer files beside model.onnx, and its chat affixes (null: plain prompts). */
export interface HfTokenizerSpec {
  type: 'hf';
  file: string;
  configFile: string;
  chat: { prefix: string; suffix: string } | null;
}

export type TokenizerSpec = { type: 'bytes' } | HfTokenizerSpec;

export interface ExportedModel extends ModelInfo {
  tokenizer: TokenizerSpec;
  /** policy, anchor or reference */
  role: string;
  step: number | null;
  weightsSha256: string;
  inputs: string[];
  outputs: string[];
}

const int = (value: unknown): value is number => Number.isInteger(value) && (value as number) > 0;
/** A file name inside the export folder: no path separators, no way out of it. */
const plainFile = (value: unknown): value is string => typeof value === 'string' && /^[\w.-]+$/.test(value) && !value.startsWith('..');

function tokenizerSpec(tokenizer: Record<string, unknown>, problems: string[]): TokenizerSpec {
  if (tokenizer.type === 'bytes') return { type: 'bytes' };
  if (tokenizer.type !== 'hf') {
    problems.push('tokenizer.type must be "bytes" (the built-in byte GPT) or "hf" (a Hugging Face tokenizer.json)');
    return { type: 'bytes' };
  }
  if (!plainFile(tokenizer.file) || !plainFile(tokenizer.config_file)) problems.push('tokenizer.file and tokenizer.config_file must name files in the export folder');
  const chat = tokenizer.chat as Record<string, unknown> | null | undefined;
  if (chat !== null && chat !== undefined && (typeof chat.prefix !== 'string' || typeof chat.suffix !== 'string')) {
    problems.push('tokenizer.chat must be null or { prefix, suffix } strings');
  }
  return {
    type: 'hf', file: String(tokenizer.file), configFile: String(tokenizer.config_file),
    chat: chat ? { prefix: String(chat.prefix), suffix: String(chat.suffix) } : null,
  };
}

export function parseModelJson(text: string, source: string): ExportedModel {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not JSON (${(error as Error).message}); export the model again with bond_trainer export-onnx`);
  }
  const m = raw as Record<string, unknown>;
  const tokenizer = (m?.tokenizer ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (m?.format !== EXPORT_FORMAT) problems.push(`format must be ${EXPORT_FORMAT}, found ${JSON.stringify(m?.format)}`);
  const spec = tokenizerSpec(tokenizer, problems);
  for (const key of ['context', 'layers', 'heads', 'head_dim'] as const) if (!int(m?.[key])) problems.push(`${key} must be a positive integer`);
  for (const key of ['vocab_size', 'eos_id', 'pad_id'] as const) if (!Number.isInteger(tokenizer[key])) problems.push(`tokenizer.${key} must be an integer`);
  if (!Array.isArray(m?.inputs) || !Array.isArray(m?.outputs)) problems.push('inputs and outputs must list the graph names');
  if (problems.length) throw new Error(`${source}: ${problems.join('; ')}`);
  return {
    tokenizer: spec,
    vocabSize: tokenizer.vocab_size as number, eosId: tokenizer.eos_id as number, padId: tokenizer.pad_id as number,
    context: m.context as number, layers: m.layers as number, heads: m.heads as number, headDim: m.head_dim as number,
    role: String(m.role), step: typeof m.step === 'number' ? m.step : null, weightsSha256: String(m.weights_sha256),
    inputs: (m.inputs as unknown[]).map(String), outputs: (m.outputs as unknown[]).map(String),
  };
}

export async function readModelJson(path: string): Promise<ExportedModel> {
  return parseModelJson(await readFile(path, 'utf8'), path);
}
