/**
 * The BOND side panel: the sample under focus in a samples panel, and the playground (try a prompt
 * on a run's exported policy and anchor; Best-of-N of the anchor with every candidate scored).
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { ScoredText } from '../../contracts/run-directory';
import {
  PLAYGROUND_LIMITS, type InspectorFocus, type InspectorToHost, type PlaygroundRequest, type PlaygroundResult, type PlaygroundRun,
  type PlaygroundText,
} from '../../contracts/webviews/inspector';
import { clip, custom, h, modelText } from '../shared/dom';
import { formatNumber } from '../shared/format';
import { connect, onHostMessage } from '../shared/vscode';

/** The playground's form: a request whose run and step may not be chosen yet. */
interface PanelState extends Omit<PlaygroundRequest, 'dir' | 'step'> {
  dir: string | null;
  step: number | null;
}

const host = connect<InspectorToHost, PanelState>();
const TEXT_CHARS = 4000;
const inspector = h('section', { className: 'inspector', attrs: { 'aria-label': 'sample under focus' } });
type ValueElement = HTMLElement & { value: string };

// ---- inspector ----
function block(title: string, sample: ScoredText | undefined): HTMLElement | null {
  if (!sample) return null;
  return h('section', { className: 'inspector-block' }, [
    h('h3', { text: title }),
    h('div', { className: 'cell-stats', text: `reward ${formatNumber(sample.reward)} · log p̂≤ ${formatNumber(sample.log_quantile)} · log π ${formatNumber(sample.logp_policy, 1)}` }),
    modelText('pre', 'detail-text', clip(sample.text, TEXT_CHARS)),
  ]);
}

function button(label: string, message: InspectorToHost, disabled = false, secondary = true): HTMLElement {
  const attrs: Record<string, string> = {};
  if (secondary) attrs.secondary = '';
  if (disabled) attrs.disabled = '';
  const b = custom('vscode-button', attrs, label);
  b.addEventListener('click', () => host.post(message));
  return b;
}

function renderFocus(focus: InspectorFocus | null): void {
  if (!focus) {
    inspector.replaceChildren(h('p', { className: 'empty-state', text: 'Select a row in a samples view (BOND: Open Samples) to inspect it here.' }));
    return;
  }
  const { record } = focus;
  const blocks = [block('Policy', record.policy[0]), block('Anchor', record.anchor[0]),
    block(`Best-of-${record.bon.n} (candidate #${record.bon.winner})`, record.bon.best)].filter((b): b is HTMLElement => b !== null);
  inspector.replaceChildren(
    h('div', { className: 'inspector-nav' }, [
      button('◀ Previous', { type: 'navigate', delta: -1 }, focus.index <= 0),
      h('span', { className: 'inspector-position', text: `${focus.index + 1} / ${focus.count}` }),
      button('Next ▶', { type: 'navigate', delta: 1 }, focus.index >= focus.count - 1),
    ]),
    h('div', { className: 'cell-meta', text: `${focus.runName} · step ${record.step} · prompt #${record.prompt_id}` }),
    modelText('pre', 'detail-text prompt-text', clip(record.prompt, TEXT_CHARS)),
    ...blocks,
    button('Open in samples view', { type: 'openInSamples' }),
  );
}

// ---- playground ----
const saved = host.savedState() as Partial<PanelState> | null;
const state: PanelState = {
  dir: typeof saved?.dir === 'string' ? saved.dir : null, step: typeof saved?.step === 'number' ? saved.step : null,
  prompt: typeof saved?.prompt === 'string' ? saved.prompt : 'the food was', n: typeof saved?.n === 'number' ? saved.n : 8,
  k: typeof saved?.k === 'number' ? saved.k : 2, temperature: typeof saved?.temperature === 'number' ? saved.temperature : 1,
  maxTokens: typeof saved?.maxTokens === 'number' ? saved.maxTokens : 40, seed: typeof saved?.seed === 'number' ? saved.seed : 0,
};
let runs: PlaygroundRun[] = [];
const runSelect = custom('vscode-single-select', { 'aria-label': 'run' }) as ValueElement;
const stepSelect = custom('vscode-single-select', { 'aria-label': 'step' }) as ValueElement;
const promptBox = custom('vscode-textarea', { rows: '3', 'aria-label': 'prompt', placeholder: 'a prompt' }) as ValueElement;
const number = (label: string, key: 'n' | 'k' | 'temperature' | 'maxTokens' | 'seed', step = '1'): HTMLElement => {
  const field = custom('vscode-textfield', { type: 'number', step, 'aria-label': label }) as ValueElement;
  field.value = String(state[key]);
  field.dataset.field = key;
  field.addEventListener('change', () => {
    const value = Number(field.value);
    if (Number.isFinite(value)) state[key] = value;
    host.saveState(state);
  });
  return h('label', { className: 'playground-field' }, [h('span', { text: label }), field]);
};
const generateButton = custom('vscode-button', {}, 'Generate');
const cancelButton = custom('vscode-button', { secondary: '', disabled: '' }, 'Cancel');
const exportButton = custom('vscode-button', { secondary: '' }, 'Export latest checkpoint');
const rewardLine = h('span', { className: 'cell-meta' });
const chooseReward = custom('vscode-button', { secondary: '' }, 'Choose ONNX reward model…');
const clearReward = custom('vscode-button', { secondary: '' }, "Use the run's reward");
const status = h('div', { className: 'playground-status', attrs: { role: 'status', 'aria-live': 'polite' } });
const results = h('div', { className: 'playground-results' });

function fillSelects(): void {
  const run = runs.find((r) => r.dir === state.dir) ?? runs.find((r) => r.steps.length) ?? runs[0];
  state.dir = run?.dir ?? null;
  runSelect.replaceChildren(...runs.map((r) => custom('vscode-option', { value: r.dir }, `${r.name}${r.steps.length ? '' : ' (not exported)'}`)));
  if (run) runSelect.value = run.dir;
  const steps = run?.steps ?? [];
  if (state.step === null || !steps.includes(state.step)) state.step = steps[0] ?? null;
  stepSelect.replaceChildren(...steps.map((s) => custom('vscode-option', { value: String(s) }, `step ${s}`)));
  if (state.step !== null) stepSelect.value = String(state.step);
  exportButton.hidden = !run?.canExport;
  rewardLine.textContent = run?.rewardModel ? `reward: ${run.rewardModel} (ONNX)` : 'reward: the run\'s own';
  clearReward.hidden = !run?.rewardModel;
  chooseReward.hidden = !run;
  generateButton.toggleAttribute('disabled', !run || steps.length === 0);
  status.textContent = !runs.length ? 'No runs yet.' : [run?.exportNote, !steps.length
    ? (run?.canExport ? 'This run has no exported models: export its latest checkpoint to try prompts.' : 'This run has no checkpoint to export yet.')
    : run?.rewardNote].filter(Boolean).join(' ');
  status.classList.remove('error');
}

function texts(title: string, items: PlaygroundText[], winner: number | null = null): HTMLElement {
  return h('section', { className: 'inspector-block' }, [
    h('h3', { text: title }),
    ...items.map((item, index) => h('div', { className: `playground-sample${index === winner ? ' winner' : ''}`, attrs: index === winner ? { 'data-winner': 'true' } : {} }, [
      h('div', { className: 'cell-stats', text: `${winner !== null || title.startsWith('Best') ? `#${index} · ` : ''}reward ${item.reward === null ? 'n/a' : formatNumber(item.reward)}${item.truncated ? ' · truncated' : ''}${index === winner ? ' · ★ Best-of-N pick' : ''}` }),
      modelText('pre', 'detail-text', clip(item.text, TEXT_CHARS)),
    ])),
  ]);
}

function renderResult(result: PlaygroundResult): void {
  const mean = (items: PlaygroundText[]): number | null => (items.length && items.every((i) => i.reward !== null)
    ? items.reduce((s, i) => s + (i.reward as number), 0) / items.length : null);
  const policyMean = mean(result.policy);
  const best = result.winner === null ? null : result.candidates[result.winner]?.reward ?? null;
  results.replaceChildren(
    h('div', { className: 'playground-summary', text: policyMean !== null && best !== null
      ? `policy mean reward ${formatNumber(policyMean)} vs Best-of-${result.candidates.length} ${formatNumber(best)} (${policyMean >= best ? 'policy matches or beats it' : `gap ${formatNumber(best - policyMean)}`})`
      : result.rewardNote ?? 'no rewards' }),
    h('div', { className: 'cell-meta', text: `${result.runName} · step ${result.step} · ${formatNumber(result.tokensPerSecond, 0)} tokens/s` }),
    texts('Policy', result.policy),
    texts('Anchor', result.anchor),
    texts(`Best-of-${result.candidates.length} of the anchor (all candidates)`, result.candidates, result.winner),
  );
}

function setBusy(busy: boolean): void {
  generateButton.toggleAttribute('disabled', busy);
  cancelButton.toggleAttribute('disabled', !busy);
}

runSelect.addEventListener('change', () => {
  state.dir = runSelect.value;
  state.step = null;
  fillSelects();
  host.saveState(state);
});
stepSelect.addEventListener('change', () => {
  state.step = Number(stepSelect.value);
  host.saveState(state);
});
promptBox.value = state.prompt;
promptBox.addEventListener('input', () => {
  state.prompt = promptBox.value.slice(0, PLAYGROUND_LIMITS.promptChars[1]);
  host.saveState(state);
});
generateButton.addEventListener('click', () => {
  if (!state.dir || state.step === null) return;
  const clamp = (value: number, [lo, hi]: readonly [number, number]): number => Math.min(hi, Math.max(lo, value));
  const request = {
    dir: state.dir, step: state.step, prompt: state.prompt,
    n: Math.round(clamp(state.n, PLAYGROUND_LIMITS.n)), k: Math.round(clamp(state.k, PLAYGROUND_LIMITS.k)),
    temperature: clamp(state.temperature, PLAYGROUND_LIMITS.temperature), maxTokens: Math.round(clamp(state.maxTokens, PLAYGROUND_LIMITS.maxTokens)),
    seed: Math.max(0, Math.round(state.seed)) >>> 0,
  };
  setBusy(true);
  status.textContent = 'starting…';
  results.replaceChildren();
  host.post({ type: 'generate', request });
});
cancelButton.addEventListener('click', () => host.post({ type: 'cancelGenerate' }));
exportButton.addEventListener('click', () => {
  if (state.dir) host.post({ type: 'exportModels', dir: state.dir });
});
chooseReward.addEventListener('click', () => {
  if (state.dir) host.post({ type: 'chooseRewardModel', dir: state.dir });
});
clearReward.addEventListener('click', () => {
  if (state.dir) host.post({ type: 'clearRewardModel', dir: state.dir });
});

onHostMessage((message) => {
  switch (message.type) {
    case 'focus':
      renderFocus((message.focus as InspectorFocus | null) ?? null);
      break;
    case 'playgroundRuns':
      runs = message.runs as PlaygroundRun[];
      fillSelects();
      break;
    case 'playgroundProgress':
      status.textContent = `${String(message.phase)}: token ${String(message.done)} of ${String(message.total)}`;
      break;
    case 'playgroundResult':
      setBusy(false);
      status.textContent = '';
      renderResult(message.result as PlaygroundResult);
      break;
    case 'playgroundStatus':
      setBusy(false);
      status.textContent = String(message.message);
      status.classList.toggle('error', message.error === true);
      break;
  }
});

document.body.append(
  h('h2', { text: 'Sample' }), inspector,
  h('h2', { text: 'Playground' }),
  h('section', { className: 'playground', attrs: { 'aria-label': 'playground' } }, [
    h('label', { className: 'playground-field' }, [h('span', { text: 'run' }), runSelect]),
    h('label', { className: 'playground-field' }, [h('span', { text: 'step' }), stepSelect]),
    promptBox,
    h('div', { className: 'playground-grid' }, [number('N', 'n'), number('K', 'k'), number('temperature', 'temperature', '0.1'), number('max tokens', 'maxTokens'), number('seed', 'seed')]),
    h('div', { className: 'toolbar' }, [rewardLine, chooseReward, clearReward]),
    h('div', { className: 'toolbar' }, [generateButton, cancelButton, exportButton]),
    status, results,
  ]),
);
renderFocus(null);
fillSelects();
host.post({ type: 'ready' });
