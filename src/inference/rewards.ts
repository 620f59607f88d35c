/**
 * The built-in rewards in TypeScript, for the playground (no Python in the loop). They mirror
 * trainer/bond_trainer/inputs/rewards.py; contracts/fixtures/rewards.json holds the Python values that the
 * tests compare against, so the two cannot drift apart. A user's Python reward cannot run here.
 */

// Same word lists as the trainer's sentiment reward (whole lower-case words).
const POSITIVE = new Set(`
amazing awesome beautiful best brilliant charming cheerful clean cozy delicious delightful
enjoy enjoyed excellent fantastic fine fresh friendly fun generous glad good gorgeous great
happy helpful impressive kind love loved lovely magnificent marvelous nice perfect pleasant
polite recommend remarkable satisfying smooth splendid stunning superb sweet tasty terrific
thrilling warm wonderful
`.split(/\s+/).filter(Boolean));
const NEGATIVE = new Set(`
annoying awful bad bland boring broken cold dirty disappointing disgusting dreadful dull hate
hated horrible lousy mediocre mess messy nasty noisy poor rude sad slow stale terrible tired
ugly unpleasant upset waste weak worse worst wrong
`.split(/\s+/).filter(Boolean));

const WORD = /[a-z']+/g;

/** Python's str.lower() and re.findall(r"[a-z']+") on code points. */
function words(text: string): string[] {
  return text.toLowerCase().match(WORD) ?? [];
}

export function sentimentScore(completion: string): number {
  let score = 0;
  for (const word of words(completion)) score += (POSITIVE.has(word) ? 1 : 0) - (NEGATIVE.has(word) ? 1 : 0);
  return score;
}

/** Length in code points, as Python's len() counts. */
export function lengthScore(completion: string, targetLength: number): number {
  return -Math.abs([...completion].length - targetLength) / targetLength;
}

export function keywordScore(completion: string, keywords: readonly string[], pattern: RegExp | null): number {
  let total = 0;
  if (keywords.length) {
    const wanted = new Set(keywords.map((k) => k.toLowerCase()));
    for (const word of words(completion)) if (wanted.has(word)) total += 1;
  }
  if (pattern) for (const _ of completion.matchAll(pattern)) total += 1;
  return total;
}

export type RewardFn = (completion: string) => number;

/**
 * The reward of a run's config, or why the playground cannot compute it. A Python regex that
 * JavaScript reads differently is refused rather than scored differently.
 */
export function buildReward(config: Record<string, unknown>): RewardFn | { unavailable: string } {
  const type = config.type;
  if (type === 'sentiment') return sentimentScore;
  if (type === 'length') {
    const target = typeof config.target_length === 'number' && config.target_length > 0 ? config.target_length : 40;
    return (completion) => lengthScore(completion, target);
  }
  if (type === 'keyword') {
    const keywords = Array.isArray(config.keywords) ? config.keywords.filter((k): k is string => typeof k === 'string') : [];
    let pattern: RegExp | null = null;
    if (typeof config.pattern === 'string' && config.pattern) {
      if (/\(\?P|\(\?#|\\[AZz]|\(\?[aiLmsux]+\)/.test(config.pattern)) {
        return { unavailable: `reward.pattern ${JSON.stringify(config.pattern)} uses Python-only regex syntax; the playground cannot score it` };
      }
      try {
        pattern = new RegExp(config.pattern, 'gu');
      } catch (error) {
        return { unavailable: `reward.pattern ${JSON.stringify(config.pattern)} is not a JavaScript regex: ${(error as Error).message}` };
      }
    }
    return (completion) => keywordScore(completion, keywords, pattern);
  }
  if (type === 'python') {
    return { unavailable: `reward.function ${String(config.function)} is Python code: the playground runs without Python, so it shows no rewards for this run` };
  }
  if (type === 'hf') {
    return { unavailable: `reward.model ${String(config.model)} is a Hugging Face reward model that runs in the trainer; choose an ONNX reward model to score samples here` };
  }
  return { unavailable: `reward.type ${JSON.stringify(type)} is not one the playground knows` };
}

/** A run's reward as the playground computes it: the components it can run, and the ones it left out. */
export interface RunReward {
  score: RewardFn;
  /** components of a composite reward the playground cannot compute, each with why */
  skipped: string[];
}

/**
 * The run config's `reward`: one reward, or a list of components (the trainer's weighted sum). The
 * playground sums the components it can compute in TypeScript and names those it cannot.
 */
export function buildRunReward(reward: unknown): RunReward | { unavailable: string } {
  if (!Array.isArray(reward)) {
    const single = buildReward(typeof reward === 'object' && reward !== null ? reward as Record<string, unknown> : {});
    return typeof single === 'function' ? { score: single, skipped: [] } : single;
  }
  const parts: { weight: number; fn: RewardFn }[] = [];
  const skipped: string[] = [];
  reward.forEach((component: unknown, index) => {
    const config = typeof component === 'object' && component !== null ? component as Record<string, unknown> : {};
    const label = typeof config.name === 'string' && config.name ? config.name : `reward[${index}] (${String(config.type)})`;
    const built = buildReward(config);
    if (typeof built === 'function') parts.push({ weight: typeof config.weight === 'number' ? config.weight : 1, fn: built });
    else skipped.push(`${label}: ${built.unavailable}`);
  });
  if (parts.length === 0) return { unavailable: `no component of the reward runs here (${skipped.join('; ')})` };
  return { score: (completion) => parts.reduce((sum, part) => sum + part.weight * part.fn(completion), 0), skipped };
}
