/**
 * The playground editor tab: the form on top; then a try's columns (π_ref's samples when exported, the policy's, the
 * anchor's, and Best-of-N of the anchor with all N candidates ranked by reward and the winner
 * marked); then the history of this session's tries, each re-runnable at another exported step.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import {
  MAX_HISTORY, PLAYGROUND_LIMITS, parsePlaygroundState, type PlaygroundRequest, type PlaygroundResult, type PlaygroundRun,
  type PlaygroundState, type PlaygroundText, type PlaygroundToHost, type PlaygroundTry, type HostToPlayground,
} from '../../contracts/webviews/playground';
import { clip, custom, h, modelText } from '../shared/dom';
import { formatNumber } from '../shared/format';
import { connect, exhaustive, onHostMessage } from '../shared/vscode';

const host = connect<PlaygroundToHost, PlaygroundState>();
const saved = parsePlaygroundState(host.savedState());
const form = saved.form;
const history: PlaygroundTry[] = saved.history;
/** The texts of this session's tries, by history index: shown again on request, never persisted. */
const results = new Map<PlaygroundTry, PlaygroundResult>();
const TEXT_CHARS = 4000;
type ValueElement = HTMLElement & { value: string };

let runs: PlaygroundRun[] = [];
let busy = false;

const save = (): void => host.saveState({ form, history });

// ---- form ----
const runSelect = custom('vscode-single-select', { 'aria-label': 'run' }) as ValueElement;
const stepSelect = custom('vscode-single-select', { 'aria-label': 'step' }) as ValueElement;
const promptBox = custom('vscode-textarea', { rows: '3', 'aria-label': 'prompt', placeholder: 'a prompt' }) as ValueElement;
const numberFields = new Map<string, ValueElement>();
const number = (label: string, key: 'n' | 'k' | 'temperature' | 'maxTokens' | 'seed', step = '1'): HTMLElement => {
  const field = custom('vscode-textfield', { type: 'number', step, 'aria-label': label }) as ValueElement;
  field.value = String(form[key]);
  field.dataset.field = key;
  numberFields.set(key, field);
  field.addEventListener('change', () => {
    const value = Number(field.value);
    if (Number.isFinite(value)) form[key] = value;
    save();
  });
  return h('label', { className: 'playground-field' }, [h('span', { text: label }), field]);
};
const generateButton = custom('vscode-button', {}, 'Generate');
const cancelButton = custom('vscode-button', { secondary: '', disabled: '' }, 'Cancel');
const exportSelect = custom('vscode-single-select', { 'aria-label': 'checkpoint to export' }) as ValueElement;
const exportButton = custom('vscode-button', { secondary: '' }, 'Export checkpoint');
const rewardLine = h('span', { className: 'cell-meta' });
const chooseReward = custom('vscode-button', { secondary: '' }, 'Choose ONNX reward model…');
const clearReward = custom('vscode-button', { secondary: '' }, "Use the run's reward");
const status = h('div', { className: 'playground-status', attrs: { role: 'status', 'aria-live': 'polite' } });
const resultSection = h('section', { className: 'playground-results', attrs: { 'aria-label': 'the latest try' } });
const historySection = h('section', { className: 'playground-history', attrs: { 'aria-label': 'tries in this session' } });

const currentRun = (): PlaygroundRun | undefined => runs.find((r) => r.dir === form.dir);

/** The run it was opened from (form.dir), else the newest completed one (runs come newest first). */
function defaultRun(): PlaygroundRun | undefined {
  return currentRun() ?? runs.find((r) => r.status === 'completed' && r.steps.length) ?? runs.find((r) => r.status === 'completed')
    ?? runs.find((r) => r.steps.length) ?? runs[0];
}

/** A newly chosen run: N follows the Best-of-N it was trained and evaluated against. */
function choose(run: PlaygroundRun | undefined): void {
  if (run && run.dir !== form.dir && Number.isFinite(run.bonN)) form.n = Math.round(clamp(run.bonN, PLAYGROUND_LIMITS.n));
  form.dir = run?.dir ?? null;
  syncForm();
}

function fillSelects(): void {
  const run = defaultRun();
  choose(run);
  runSelect.replaceChildren(...runs.map((r) => custom('vscode-option', { value: r.dir }, `${r.name}${r.steps.length ? '' : ' (not exported)'}`)));
  if (run) runSelect.value = run.dir;
  const steps = run?.steps ?? [];
  if (form.step === null || !steps.includes(form.step)) form.step = steps[0] ?? null;
  stepSelect.replaceChildren(...steps.map((s) => custom('vscode-option', { value: String(s) }, `step ${s}`)));
  if (form.step !== null) stepSelect.value = String(form.step);
  const exportable = run?.checkpointSteps ?? [];
  exportSelect.replaceChildren(...exportable.map((s) => custom('vscode-option', { value: String(s) }, `checkpoint step ${s}`)));
  if (exportable.length) exportSelect.value = String(exportable[0]);
  exportButton.hidden = exportSelect.hidden = !exportable.length;
  rewardLine.textContent = run?.rewardModel ? `reward: ${run.rewardModel} (ONNX)` : "reward: the run's own";
  clearReward.hidden = !run?.rewardModel;
  chooseReward.hidden = !run;
  generateButton.toggleAttribute('disabled', busy || !run || steps.length === 0);
  status.textContent = !runs.length ? 'No runs yet: start one (BOND: Start Run), then export a checkpoint here.' : [run?.exportNote, !steps.length
    ? (run?.canExport ? 'This run has no exported models: export a checkpoint to try prompts at its step.' : 'This run has no checkpoint to export yet.')
    : run?.rewardNote].filter(Boolean).join(' ');
  status.classList.remove('error');
  renderHistory();
}

function setBusy(next: boolean): void {
  busy = next;
  generateButton.toggleAttribute('disabled', busy || !currentRun()?.steps.length);
  cancelButton.toggleAttribute('disabled', !busy);
  renderHistory(); // its Run again buttons follow: disabled while busy, and for runs with no exported step
}

const clamp = (value: number, [lo, hi]: readonly [number, number]): number => Math.min(hi, Math.max(lo, value));

function requestFromForm(): PlaygroundRequest | null {
  if (!form.dir || form.step === null) return null;
  return {
    dir: form.dir, step: form.step, prompt: form.prompt,
    n: Math.round(clamp(form.n, PLAYGROUND_LIMITS.n)), k: Math.round(clamp(form.k, PLAYGROUND_LIMITS.k)),
    temperature: clamp(form.temperature, PLAYGROUND_LIMITS.temperature), maxTokens: Math.round(clamp(form.maxTokens, PLAYGROUND_LIMITS.maxTokens)),
    seed: Math.max(0, Math.round(form.seed)) >>> 0,
  };
}

function generate(request: PlaygroundRequest): void {
  setBusy(true);
  status.textContent = 'starting…';
  status.classList.remove('error');
  host.post({ type: 'generate', request });
}

// ---- a try: the reference's, the policy's and the anchor's samples, and Best-of-N ----
const mean = (items: PlaygroundText[]): number | null => (items.length && items.every((i) => i.reward !== null)
  ? items.reduce((s, i) => s + (i.reward as number), 0) / items.length : null);

/** Items with their original index, highest reward first (no rewards: as drawn). */
function ranked(items: PlaygroundText[]): { item: PlaygroundText; index: number }[] {
  const indexed = items.map((item, index) => ({ item, index }));
  if (items.some((i) => i.reward === null)) return indexed;
  return indexed.sort((a, b) => (b.item.reward as number) - (a.item.reward as number) || a.index - b.index);
}

function column(title: string, note: string, items: PlaygroundText[], winner: number | null, role: string): HTMLElement {
  return h('section', { className: 'playground-column', attrs: { 'data-column': role } }, [
    h('h3', { text: title }),
    h('div', { className: 'cell-meta', text: note }),
    ...ranked(items).map(({ item, index }, rank) => h('div', {
      className: `playground-sample${index === winner ? ' winner' : ''}`,
      attrs: { 'data-index': String(index), 'data-rank': String(rank + 1), ...(index === winner ? { 'data-winner': 'true' } : {}) },
    }, [
      h('div', { className: 'cell-stats', text: `${rank + 1}. #${index} · reward ${item.reward === null ? 'n/a' : formatNumber(item.reward)}${item.truncated ? ' · truncated' : ''}${index === winner ? ' · ★ Best-of-N pick' : ''}` }),
      modelText('pre', 'detail-text', clip(item.text, TEXT_CHARS)),
    ])),
  ]);
}

const samplesNote = (items: PlaygroundText[]): string => `${items.length} samples, ranked by reward${mean(items) === null ? '' : ` · mean ${formatNumber(mean(items) as number)}`}`;

function renderResult(result: PlaygroundResult): void {
  const policyMean = mean(result.policy);
  const best = result.winner === null ? null : result.candidates[result.winner]?.reward ?? null;
  const n = result.candidates.length;
  resultSection.replaceChildren(
    h('div', { className: 'playground-summary', text: policyMean !== null && best !== null
      ? `policy mean reward ${formatNumber(policyMean)} vs Best-of-${n} ${formatNumber(best)} (${policyMean >= best ? 'policy matches or beats it' : `gap ${formatNumber(best - policyMean)}`})`
      : result.rewardNote ?? 'no rewards' }),
    h('div', { className: 'cell-meta', text: `${result.runName} · step ${result.step} · ${formatNumber(result.tokensPerSecond, 0)} tokens/s` }),
    modelText('pre', 'detail-text prompt-text', clip(result.prompt, TEXT_CHARS)),
    ...(result.referenceNote ? [h('div', { className: 'cell-meta reference-note', text: result.referenceNote })] : []),
    h('div', { className: 'playground-columns' }, [
      ...(result.reference ? [column('Reference (π_ref)', `${samplesNote(result.reference)} · where training started`, result.reference, null, 'reference')] : []),
      column('Policy', samplesNote(result.policy), result.policy, null, 'policy'),
      column('Anchor', samplesNote(result.anchor), result.anchor, null, 'anchor'),
      column(`Best-of-${n}`, `all ${n} candidates of the anchor, ranked; ★ is the pick (ties: the first drawn)`, result.candidates, result.winner, 'bon'),
    ]),
  );
}

// ---- history ----
function renderHistory(): void {
  if (!history.length) {
    historySection.replaceChildren(h('h2', { text: 'History' }), h('p', { className: 'empty-state', text: 'Tries in this session appear here, to compare and run again at another step.' }));
    return;
  }
  const rows = [...history].reverse().map((entry) => {
    const run = runs.find((r) => r.dir === entry.request.dir);
    const steps = run?.steps ?? [];
    const stepPick = custom('vscode-single-select', { 'aria-label': 'step to run again at' }) as ValueElement;
    stepPick.replaceChildren(...steps.map((s) => custom('vscode-option', { value: String(s) }, `step ${s}`)));
    if (steps.length) stepPick.value = String(steps.includes(entry.request.step) ? entry.request.step : steps[0]);
    const again = custom('vscode-button', { secondary: '' }, 'Run again');
    again.toggleAttribute('disabled', busy || !steps.length);
    again.addEventListener('click', () => {
      const step = Number(stepPick.value);
      if (!busy && steps.includes(step)) generate({ ...entry.request, step });
    });
    const show = custom('vscode-button', { secondary: '' }, 'Show');
    const shown = results.get(entry);
    show.hidden = !shown;
    show.addEventListener('click', () => {
      if (shown) renderResult(shown);
    });
    const load = custom('vscode-button', { secondary: '' }, 'Edit in form');
    load.addEventListener('click', () => {
      Object.assign(form, entry.request);
      syncForm();
      fillSelects();
      save();
    });
    const scores = entry.policyMean !== null && entry.bestReward !== null
      ? `policy ${formatNumber(entry.policyMean)} · Best-of-${entry.request.n} ${formatNumber(entry.bestReward)}` : 'no rewards';
    return h('div', { className: 'history-row', attrs: { 'data-step': String(entry.request.step), role: 'listitem' } }, [
      h('div', { className: 'cell-meta', text: `${entry.runName} · step ${entry.request.step} · N ${entry.request.n} · K ${entry.request.k} · T ${entry.request.temperature} · seed ${entry.request.seed} · ${new Date(entry.at).toLocaleTimeString()}` }),
      modelText('div', 'history-prompt', clip(entry.request.prompt, 200)),
      h('div', { className: 'cell-stats', text: scores }),
      h('div', { className: 'toolbar' }, [stepPick, again, show, load]),
    ]);
  });
  historySection.replaceChildren(h('h2', { text: 'History' }), h('div', { className: 'history-list', attrs: { role: 'list' } }, rows));
}

function remember(result: PlaygroundResult): void {
  const entry: PlaygroundTry = {
    request: result.request, runName: result.runName, policyMean: mean(result.policy),
    bestReward: result.winner === null ? null : result.candidates[result.winner]?.reward ?? null, at: Date.now(),
  };
  history.push(entry);
  results.set(entry, result);
  while (history.length > MAX_HISTORY) results.delete(history.shift() as PlaygroundTry);
  save();
  renderHistory();
}

function syncForm(): void {
  promptBox.value = form.prompt;
  for (const [key, field] of numberFields) field.value = String(form[key as 'n']);
}

runSelect.addEventListener('change', () => {
  choose(runs.find((r) => r.dir === runSelect.value));
  form.step = null;
  fillSelects();
  save();
});
stepSelect.addEventListener('change', () => {
  form.step = Number(stepSelect.value);
  save();
});
promptBox.value = form.prompt;
promptBox.addEventListener('input', () => {
  form.prompt = promptBox.value.slice(0, PLAYGROUND_LIMITS.promptChars[1]);
  save();
});
generateButton.addEventListener('click', () => {
  const request = requestFromForm();
  if (request) generate(request);
});
cancelButton.addEventListener('click', () => host.post({ type: 'cancelGenerate' }));
exportButton.addEventListener('click', () => {
  const step = Number(exportSelect.value);
  if (form.dir) host.post({ type: 'exportModels', dir: form.dir, step: exportSelect.value !== '' && Number.isInteger(step) ? step : null });
});
chooseReward.addEventListener('click', () => {
  if (form.dir) host.post({ type: 'chooseRewardModel', dir: form.dir });
});
clearReward.addEventListener('click', () => {
  if (form.dir) host.post({ type: 'clearRewardModel', dir: form.dir });
});

onHostMessage<HostToPlayground>((message) => {
  // Every message stands alone (no stream to replay), so sequence numbers need no tracking here.
  switch (message.type) {
    case 'runs':
      runs = message.runs;
      fillSelects();
      break;
    case 'prefill':
      if (message.dir !== null) {
        const dir = message.dir;
        choose(runs.find((r) => r.dir === dir));
        form.dir = dir;
        form.step = message.step ?? null;
      }
      if (message.prompt !== null) form.prompt = message.prompt.slice(0, PLAYGROUND_LIMITS.promptChars[1]);
      syncForm();
      fillSelects();
      save();
      break;
    case 'progress':
      status.textContent = `${message.phase}: token ${message.done} of ${message.total}`;
      break;
    case 'result':
      setBusy(false);
      status.textContent = '';
      renderResult(message.result);
      remember(message.result);
      break;
    case 'status':
      setBusy(false);
      status.textContent = message.message;
      status.classList.toggle('error', message.error);
      break;
    default:
      exhaustive(message);
  }
});

document.body.append(
  h('h1', { text: 'BOND Playground' }),
  h('section', { className: 'playground playground-form', attrs: { 'aria-label': 'playground' } }, [
    h('div', { className: 'playground-row' }, [
      h('label', { className: 'playground-field' }, [h('span', { text: 'run' }), runSelect]),
      h('label', { className: 'playground-field' }, [h('span', { text: 'step' }), stepSelect]),
    ]),
    promptBox,
    h('div', { className: 'playground-grid' }, [number('N', 'n'), number('K', 'k'), number('temperature', 'temperature', '0.1'), number('max tokens', 'maxTokens'), number('seed', 'seed')]),
    h('div', { className: 'toolbar' }, [rewardLine, chooseReward, clearReward]),
    h('div', { className: 'toolbar' }, [generateButton, cancelButton, exportSelect, exportButton]),
    status,
  ]),
  resultSection, historySection,
);
fillSelects();
host.post({ type: 'ready' });
