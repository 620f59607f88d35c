/** The playground's host logic with a stand-in worker: which runs it offers, rewards, the winner, refusals. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { PlaygroundResult, PlaygroundRun } from '../../contracts/webviews/playground';
import type { RunState, RunStore } from '../../src/core/runStore';
import type { InferenceClient } from '../../src/inference/client';
import type { GenerateRequest, GenerateResult } from '../../src/inference/protocol';
import { listExports, roleExportProblem } from '../../src/inference/onnxExports';
import { Playground } from '../../src/webviews/playground';
import { TRAINER, tempDir } from '../helpers';
import { fixtureRun } from '../webview/harness';

const completion = (text: string) => ({ tokens: [...new TextEncoder().encode(text)], text, truncated: false });

function setup(reward: Record<string, unknown>, answer: (request: GenerateRequest) => GenerateResult | 'cancelled', python = 'python3') {
  const dir = tempDir('bond-playground-');
  for (const role of ['policy', 'anchor']) {
    mkdirSync(join(dir, 'exports', 'step-5', role), { recursive: true });
    writeFileSync(join(dir, 'exports', 'step-5', role, 'model.json'), '{}');
  }
  const meta = { ...fixtureRun('completed').meta, config: { ...fixtureRun('completed').meta.config, reward } };
  // The checkpoints run.json lists, on disk as the trainer writes them (a manifest with each file's size).
  for (const checkpoint of meta.checkpoints) {
    mkdirSync(join(dir, checkpoint.path), { recursive: true });
    writeFileSync(join(dir, checkpoint.path, 'model.pt'), 'weights');
    writeFileSync(join(dir, checkpoint.path, 'checkpoint.json'), JSON.stringify({ step: checkpoint.step, files: { 'model.pt': { size: 7, sha256: 'x' } } }));
  }
  const state = { dir, meta, status: 'completed', skippedLines: 0, metaNotes: [] } as RunState;
  const store = { runs: [state], get: (d: string) => (d === dir ? state : undefined) } as unknown as RunStore;
  const requests: GenerateRequest[] = [];
  const client = {
    generate: (request: GenerateRequest) => {
      requests.push(request);
      return { result: Promise.resolve(answer(request)), cancel: () => undefined };
    },
  } as unknown as InferenceClient;
  const events = { results: [] as PlaygroundResult[], statuses: [] as string[], installs: [] as { install: readonly string[]; retry: () => Promise<void> }[] };
  const choices = new Map<string, string>();
  const playground = new Playground(store, async () => ({ python, trainerDir: TRAINER }), client, {
    progress: () => undefined,
    status: (message) => events.statuses.push(message),
    result: (result) => events.results.push(result),
    runsChanged: async () => undefined,
    needsPackages: (_message, install, retry) => events.installs.push({ install, retry }),
    exported: () => undefined,
  }, { get: (d) => choices.get(d), set: async (d, p) => { if (p) choices.set(d, p); else choices.delete(d); } });
  return { dir, playground, events, requests, choices };
}

const request = (dir: string) => ({ dir, step: 5, prompt: 'the food', n: 3, k: 2, temperature: 1, maxTokens: 8, seed: 1 });
const answer = (): GenerateResult => ({
  policy: [completion('good good'), completion('bad')], anchor: [completion('fine'), completion('')],
  candidates: [completion('bad'), completion('great lovely'), completion('good nice')], tokensPerSecond: 100,
});

describe('playground host', () => {
  it('samples π_ref when its export is there, scored as the others; says why not, or that a fixed anchor is π_ref', async () => {
    const { dir, playground, events, requests } = setup({ type: 'sentiment' },
      (r) => ({ ...answer(), ...(r.reference ? { reference: [completion('lovely'), completion('bad bad')] } : {}) }));
    await playground.generate(request(dir));
    assert.equal(requests[0]?.reference, undefined, 'no reference export at step 5: none asked for');
    assert.equal(events.results[0]?.reference, null);
    assert.match(events.results[0]?.referenceNote ?? '', /π_ref was not exported with step 5/);
    const reference = join(dir, 'exports', 'step-5', 'reference');
    mkdirSync(reference, { recursive: true });
    writeFileSync(join(reference, 'model.json'), JSON.stringify({ role: 'reference' }));
    await playground.generate(request(dir));
    assert.equal(requests[1]?.reference, reference);
    assert.deepEqual(events.results[1]?.reference?.map((t) => [t.text, t.reward]), [['lovely', 1], ['bad bad', -2]]);
    assert.equal(events.results[1]?.referenceNote, null);
    // A fixed anchor was exported as the reference: its column is π_ref's; no second sampling.
    rmSync(reference, { recursive: true });
    writeFileSync(join(dir, 'exports', 'step-5', 'anchor', 'model.json'), JSON.stringify({
      format: 'bond-onnx/1', role: 'reference', step: null, context: 32, layers: 1, heads: 2, head_dim: 16,
      tokenizer: { type: 'bytes', vocab_size: 257, eos_id: 256, pad_id: 256 }, inputs: ['input_ids'], outputs: ['logits'],
    }));
    await playground.generate(request(dir));
    assert.equal(requests[2]?.reference, undefined);
    assert.match(events.results[2]?.referenceNote ?? '', /anchor is the reference/);
  });

  it('offers exported steps, scores with the run\'s built-in reward and marks the first best candidate', async () => {
    const { dir, playground, events, requests } = setup({ type: 'sentiment' }, answer);
    const runs: PlaygroundRun[] = await playground.runs();
    assert.deepEqual(runs.map((r) => [r.steps, r.rewardNote, r.rewardModel]), [[[5], null, null]]);
    assert.deepEqual(runs[0]?.checkpointSteps, [4, 2], 'the checkpoints not exported yet, newest first');
    await playground.generate(request(dir));
    assert.equal(requests[0]?.policy, join(dir, 'exports', 'step-5', 'policy'));
    const result = events.results[0] as PlaygroundResult;
    assert.deepEqual(result.policy.map((p) => p.reward), [2, -1]);
    assert.deepEqual(result.candidates.map((c) => c.reward), [-1, 2, 2]);
    assert.equal(result.winner, 1, 'ties go to the first candidate, as in the trainer');
    assert.deepEqual(result.request, request(dir), 'the result carries its request, for the history');
  });

  it('an export that needs a package offers to install it and retries the same export; other failures offer nothing', async () => {
    // A stand-in interpreter that answers export-onnx as the trainer does without onnx (its JSON on stdout, exit 2).
    const bin = tempDir('bond-fake-python-');
    const python = join(bin, 'python');
    const said = { ok: false, problem: "ONNX export needs the onnx package in the trainer's Python: pip install 'onnx>=1.16'", install: ['onnx>=1.16'] };
    writeFileSync(join(bin, 'said.json'), `${JSON.stringify(said)}\n`);
    writeFileSync(python, `#!/bin/sh\necho "$*" >> "${join(bin, 'calls')}"\necho 'error: no onnx' >&2\ncat "${join(bin, 'said.json')}"\nexit 2\n`);
    chmodSync(python, 0o755);
    const { dir, playground, events } = setup({ type: 'sentiment' }, answer, python);
    await playground.exportModels(dir, 4);
    assert.match(events.statuses.at(-1) ?? '', /export failed: ONNX export needs the onnx package/);
    assert.equal(events.installs.length, 1);
    assert.deepEqual(events.installs[0]?.install, ['onnx>=1.16']);
    await events.installs[0]?.retry();
    const calls = readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    assert.equal(calls.length, 2, 'the retry exports again');
    assert.ok(calls.every((c) => c.includes('export-onnx') && c.includes('step-4')), calls.join('\n'));
    const other = setup({ type: 'sentiment' }, answer, join(bin, 'missing-python'));
    await other.playground.exportModels(other.dir, 4);
    assert.equal(other.events.installs.length, 0);
  });

  it('an export adds π_ref (from run.json\'s reference, once: later steps copy it), or says in errors.json why it cannot', async () => {
    // A stand-in interpreter that exports as the trainer does: the out folder with a model.json naming the role.
    const bin = tempDir('bond-fake-python-');
    const python = join(bin, 'python');
    writeFileSync(python, `#!/bin/sh\necho "$*" >> "${join(bin, 'calls')}"\n`
      + 'while [ $# -gt 0 ]; do case "$1" in --out) out=$2; shift;; --role) role=$2; shift;; esac; shift; done\n'
      + `if [ "$role" = reference ] && [ -f "${join(bin, 'fail-reference')}" ]; then echo "error: cannot load the reference model" >&2; exit 1; fi\n`
      + 'mkdir -p "$out" && printf \'{"role": "%s"}\' "$role" > "$out/model.json"\n');
    chmodSync(python, 0o755);
    const { dir, playground, events } = setup({ type: 'sentiment' }, answer, python);
    // a moving anchor: each checkpoint holds its weights
    for (const step of [2, 4]) writeFileSync(join(dir, 'checkpoints', `step-${step}`, 'anchor.pt'), 'anchor');
    const pretrained = join(dir, 'pretrained.pt');
    const meta = (playground as unknown as { store: RunStore }).store.get(dir)!.meta;
    meta.paths = { ...meta.paths!, reference: { kind: 'byte-gpt', location: pretrained, chat_template: false } };
    await playground.exportModels(dir, 4);
    assert.equal(events.statuses.at(-1), 'exported step 4');
    const calls = () => readFileSync(join(bin, 'calls'), 'utf8').trim().split('\n');
    assert.deepEqual(calls().map((c) => / --role (\w+)/.exec(c)?.[1]), ['policy', 'anchor', 'reference']);
    assert.ok(calls()[2]?.includes(`--checkpoint ${pretrained} `), calls()[2]);
    await playground.exportModels(dir, 2);
    assert.equal(calls().length, 5, 'the second step copies π_ref\'s export instead of making it again');
    const listed = await listExports(dir);
    assert.deepEqual(listed.filter((set) => set.step !== 5).map((set) => [set.step, set.reference]),
      [[4, join(dir, 'exports', 'step-4', 'reference')], [2, join(dir, 'exports', 'step-2', 'reference')]]);
    assert.equal(JSON.parse(readFileSync(join(dir, 'exports', 'step-2', 'reference', 'model.json'), 'utf8')).role, 'reference');
    // A reference that was randomly initialised cannot be rebuilt: the step exports without it and says why.
    meta.paths = { ...meta.paths!, reference: { kind: 'random', location: null, chat_template: false } };
    rmSync(join(dir, 'exports'), { recursive: true });
    await playground.exportModels(dir, 4);
    assert.equal(events.statuses.at(-1), 'exported step 4');
    assert.equal((await listExports(dir))[0]?.reference, null);
    assert.match(await roleExportProblem(dir, 4, 'reference') ?? '', /randomly initialised and not saved/);
    assert.match((await playground.runs())[0]?.exportNote ?? '', /reference: .*randomly initialised/);
    // A reference whose export fails costs its column only: the step is exported, the reason kept.
    meta.paths = { ...meta.paths!, reference: { kind: 'byte-gpt', location: pretrained, chat_template: false } };
    writeFileSync(join(bin, 'fail-reference'), '');
    rmSync(join(dir, 'exports'), { recursive: true });
    await playground.exportModels(dir, 4);
    assert.equal(events.statuses.at(-1), 'exported step 4');
    assert.equal((await listExports(dir))[0]?.reference, null);
    assert.match(await roleExportProblem(dir, 4, 'reference') ?? '', /cannot load the reference model/);
  });

  it('offers only the checkpoints intact on disk, whatever run.json lists', async () => {
    const { dir, playground } = setup({ type: 'sentiment' }, answer);
    const [newest, older] = (await playground.runs())[0]!.checkpointSteps;
    writeFileSync(join(dir, 'checkpoints', `step-${newest}`, 'model.pt'), 'cut'); // a size the manifest does not vouch for
    rmSync(join(dir, 'checkpoints', `step-${older}`, 'checkpoint.json'));        // half-deleted
    mkdirSync(join(dir, 'checkpoints', 'step-99'));                                 // no manifest at all
    mkdirSync(join(dir, 'checkpoints', 'step-98'));
    writeFileSync(join(dir, 'checkpoints', 'step-98', 'checkpoint.json'), JSON.stringify({ step: 98, files: { '../../run.json': { size: 1 } } }));
    const run = (await playground.runs())[0]!;
    assert.deepEqual(run.checkpointSteps, []);
    assert.equal(run.canExport, false);
  });

  it('refuses steps that were not exported and runs it does not know, without calling the worker', async () => {
    const { dir, playground, events, requests } = setup({ type: 'sentiment' }, answer);
    await playground.generate({ ...request(dir), step: 6 });
    await playground.generate({ ...request('/elsewhere') });
    assert.equal(requests.length, 0);
    assert.match(events.statuses.join('\n'), /no exported models at step 6[\s\S]*no run at \/elsewhere/);
  });

  it('a Python reward shows no rewards until an ONNX reward model is chosen, whose scores are used', async () => {
    const { dir, playground, events, requests } = setup({ type: 'python', function: 'r.py:score' },
      (r) => ({ ...answer(), ...(r.rewardModel ? { rewards: { policy: [1, 2], anchor: [0, 0], candidates: [5, 3, 5] } } : {}) }));
    assert.match((await playground.runs())[0]?.rewardNote ?? '', /Python code.*Choose an ONNX reward model/);
    await playground.generate(request(dir));
    assert.equal(events.results[0]?.winner, null);
    assert.deepEqual(events.results[0]?.policy.map((p) => p.reward), [null, null]);
    await playground.setRewardModel(dir, '/models/rm.onnx');
    assert.equal((await playground.runs())[0]?.rewardModel, 'rm.onnx');
    await playground.generate(request(dir));
    assert.equal(requests[1]?.rewardModel, '/models/rm.onnx');
    assert.deepEqual(events.results[1]?.candidates.map((c) => c.reward), [5, 3, 5]);
    assert.equal(events.results[1]?.winner, 0);
  });
});
