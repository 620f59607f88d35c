/**
 * The inference worker thread: onnxruntime sessions live here, cached per export folder, so sampling
 * never blocks the extension host's event loop. Cancel is checked before every token step.
 */
import { parentPort } from 'node:worker_threads';
import { OrtKvModel } from './ortModel';
import { OnnxRewardModel } from './rewardModel';
import type { FromWorker, GenerateRequest, GenerateResult, ToWorker } from './protocol';
import { encodePrompt, sample, Cancelled, type Completion } from './sampler';

const port = parentPort;
if (!port) throw new Error('inference worker: must run as a worker thread');

const models = new Map<string, Promise<OrtKvModel>>();
const rewardModels = new Map<string, Promise<OnnxRewardModel>>();
const cancelled = new Set<number>();

/** One load per file, shared by concurrent requests; a failed load is forgotten so it can be retried. */
function cached<T>(cache: Map<string, Promise<T>>, key: string, load: (key: string) => Promise<T>): Promise<T> {
  let loading = cache.get(key);
  if (!loading) {
    loading = load(key);
    loading.catch(() => cache.delete(key));
    cache.set(key, loading);
  }
  return loading;
}

const model = (folder: string): Promise<OrtKvModel> => cached(models, folder, OrtKvModel.load);
const rewardModel = (path: string): Promise<OnnxRewardModel> => cached(rewardModels, path, OnnxRewardModel.load);

function post(message: FromWorker): void {
  port?.postMessage(message);
}

/** π_ref's K samples (its own seed), from the same prompt tokens: it shares the policy's vocabulary. */
async function sampleReference(id: number, request: GenerateRequest, folder: string, policy: OrtKvModel,
  prompt: ReturnType<typeof encodePrompt>, stop: () => boolean): Promise<Completion[]> {
  const reference = await model(folder);
  if (reference.info.vocabSize !== policy.info.vocabSize) {
    throw new Error(`the policy (${request.policy}) and the reference (${folder}) have different vocabularies; export both from the same run`);
  }
  return sample(reference, Array.from({ length: request.k }, () => prompt), { ...request.options, seed: request.options.seed + 2 }, stop,
    (done, total) => post({ type: 'progress', id, phase: 'reference', done, total }));
}

async function generate(id: number, request: GenerateRequest): Promise<GenerateResult> {
  const started = performance.now();
  const [policy, anchor] = await Promise.all([model(request.policy), model(request.anchor)]);
  const stop = (): boolean => cancelled.has(id);
  if (policy.info.vocabSize !== anchor.info.vocabSize) {
    throw new Error(`the policy (${request.policy}) and the anchor (${request.anchor}) have different vocabularies; export both from the same run`);
  }
  const prompt = encodePrompt(request.prompt, policy.info, request.options.maxNewTokens, policy.tokenizer);
  const policySamples = await sample(policy, Array.from({ length: request.k }, () => prompt), request.options, stop,
    (done, total) => post({ type: 'progress', id, phase: 'policy', done, total }));
  // the anchor's K shown samples and its N Best-of-N candidates, in one batch
  const anchorSamples = await sample(anchor, Array.from({ length: request.k + request.n }, () => prompt),
    { ...request.options, seed: request.options.seed + 1 }, stop,
    (done, total) => post({ type: 'progress', id, phase: 'anchor', done, total }));
  const referenceSamples = request.reference ? await sampleReference(id, request, request.reference, policy, prompt, stop) : undefined;
  const tokens = [...policySamples, ...anchorSamples, ...(referenceSamples ?? [])].reduce((sum, c) => sum + c.tokens.length, 0);
  const tokensPerSecond = tokens / ((performance.now() - started) / 1000);
  const result: GenerateResult = {
    policy: policySamples,
    anchor: anchorSamples.slice(0, request.k),
    candidates: anchorSamples.slice(request.k),
    ...(referenceSamples ? { reference: referenceSamples } : {}),
    tokensPerSecond,
  };
  if (request.rewardModel) {
    const scorer = await rewardModel(request.rewardModel);
    const texts = (list: typeof policySamples): string[] => list.map((c) => c.text);
    result.rewards = {
      policy: await scorer.score(request.prompt, texts(result.policy)),
      anchor: await scorer.score(request.prompt, texts(result.anchor)),
      candidates: await scorer.score(request.prompt, texts(result.candidates)),
      ...(result.reference ? { reference: await scorer.score(request.prompt, texts(result.reference)) } : {}),
    };
  }
  return result;
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    cancelled.add(message.id);
    return;
  }
  generate(message.id, message.request).then(
    (result) => post({ type: 'result', id: message.id, result }),
    (error: unknown) => post(error instanceof Cancelled
      ? { type: 'cancelled', id: message.id }
      : { type: 'error', id: message.id, message: error instanceof Error ? error.message : String(error) }),
  ).finally(() => cancelled.delete(message.id));
});
