/**
 * Hugging Face tokenizers in the playground: the exported folder's tokenizer.json and
 * tokenizer_config.json, read by @huggingface/tokenizers (pure JavaScript, bundled into the
 * inference worker). A chat model's prompts are wrapped in the prefix and suffix its chat template
 * renders around a user turn (the trainer writes them into model.json: no template engine here).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { HfTokenizerSpec } from './modelInfo';
import type { TextTokenizer } from './sampler';

export function hfTokenizer(tokenizerJson: object, tokenizerConfig: object, spec: HfTokenizerSpec, eosId: number): TextTokenizer {
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  return {
    // The template already holds the special tokens a chat model expects; a plain prompt gets the
    // tokenizer's own (as the trainer's add_special_tokens=True does).
    encode: (text) => spec.chat
      ? tokenizer.encode(`${spec.chat.prefix}${text}${spec.chat.suffix}`, { add_special_tokens: false }).ids
      : tokenizer.encode(text).ids,
    decode: (tokens) => tokenizer.decode(tokens.filter((t) => t !== eosId), { skip_special_tokens: true }),
  };
}

async function readJson(path: string): Promise<object> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new Error(`${path}: cannot read the tokenizer (${(error as Error).message}); export the model again with bond_trainer export-onnx`);
  }
  try {
    return JSON.parse(text) as object;
  } catch (error) {
    throw new Error(`${path}: not JSON (${(error as Error).message}); export the model again`);
  }
}

export async function loadHfTokenizer(folder: string, spec: HfTokenizerSpec, eosId: number): Promise<TextTokenizer> {
  const [json, config] = await Promise.all([readJson(join(folder, spec.file)), readJson(join(folder, spec.configFile))]);
  try {
    return hfTokenizer(json, config, spec, eosId);
  } catch (error) {
    throw new Error(`${join(folder, spec.file)}: @huggingface/tokenizers cannot read this tokenizer: ${(error as Error).message}`);
  }
}
