/** model.json of an export: what the playground accepts, and what it refuses with a reason. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseModelJson } from '../../src/inference/modelInfo';

const base = {
  format: 'bond-onnx/1', role: 'policy', step: 3, weights_sha256: 'x', context: 96, layers: 2, heads: 2, head_dim: 8,
  inputs: ['input_ids', 'attention_mask', 'past_key_0', 'past_value_0'], outputs: ['logits', 'present_key_0', 'present_value_0'],
};
const hf = { type: 'hf', file: 'tokenizer.json', config_file: 'tokenizer_config.json', vocab_size: 300, eos_id: 1, pad_id: 0,
  chat: { prefix: '<|user|>', suffix: '<|end|><|assistant|>' } };

test('a Hugging Face export carries its tokenizer files and chat affixes', () => {
  const info = parseModelJson(JSON.stringify({ ...base, tokenizer: hf }), 'model.json');
  assert.deepEqual(info.tokenizer, { type: 'hf', file: 'tokenizer.json', configFile: 'tokenizer_config.json',
    chat: { prefix: '<|user|>', suffix: '<|end|><|assistant|>' } });
  assert.equal(info.eosId, 1);
  assert.equal(parseModelJson(JSON.stringify({ ...base, tokenizer: { ...hf, chat: null } }), 'm').tokenizer.type, 'hf');
  assert.deepEqual(parseModelJson(JSON.stringify({ ...base, tokenizer: { type: 'bytes', vocab_size: 258, eos_id: 256, pad_id: 257 } }), 'm').tokenizer,
    { type: 'bytes' });
});

test('tokenizer files outside the export folder, bad chat affixes and unknown tokenizers are refused', () => {
  assert.throws(() => parseModelJson(JSON.stringify({ ...base, tokenizer: { ...hf, file: '../../secrets.json' } }), 'm.json'),
    /m\.json: tokenizer\.file and tokenizer\.config_file must name files in the export folder/);
  assert.throws(() => parseModelJson(JSON.stringify({ ...base, tokenizer: { ...hf, chat: { prefix: 1 } } }), 'm'), /tokenizer\.chat/);
  assert.throws(() => parseModelJson(JSON.stringify({ ...base, tokenizer: { ...hf, type: 'sentencepiece' } }), 'm'), /"bytes".*or "hf"/);
});
