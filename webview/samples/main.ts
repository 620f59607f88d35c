/**
 * The samples webview: for one run, one row per prompt and snapshot step with the policy's, the
 * anchor's and Best-of-N's answers. Rows are virtualised (only the visible ones exist in the DOM),
 * so 100,000 rows scroll and search smoothly. All model text goes in as text, clipped in the table.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import type { SampleRecord, ScoredText } from '../../contracts/run-directory';
import { SequenceTracker } from '../../contracts/webviews/guards';
import {
  isSameKey, parseSamplesState, SAMPLE_FILTERS, SAMPLE_SORTS,
  type HostToSamples, type SampleKey, type SamplesRun, type SamplesState, type SamplesToHost,
} from '../../contracts/webviews/samples';
import { clip, custom, h, modelText } from '../shared/dom';
import { formatNumber } from '../shared/format';
import { nearestIndex } from '../shared/series';
import { renderSkipped } from '../shared/skipped';
import { announceReady, connect, exhaustive, onHostMessage } from '../shared/vscode';
import { gapToBon, isTruncated, keyOf, klContribution, policyReward, selectRows, stepsOf } from './rows';

const ROW_HEIGHT = 112;
const OVERSCAN = 6;
const CELL_CHARS = 400;

const host = connect<SamplesToHost, SamplesState>();
const tracker = new SequenceTracker();
const state: SamplesState = parseSamplesState(host.savedState()) ?? {
  dir: '', step: null, followLatest: true, sort: 'prompt', descending: false, filter: 'all', search: '', promptId: null, focus: null,
};

let run: SamplesRun | undefined;
let records: SampleRecord[] = [];
let steps: number[] = [];
let rows: SampleRecord[] = [];
let expanded: SampleKey | null = null;
let renderFrame = 0;

type ValueElement = HTMLElement & { value: string; checked?: boolean };

// ---- toolbar ----
const runLabel = h('span', { className: 'run-name' });
const stepLabel = h('span', { className: 'step-label' });
const stepSlider = h('input', { className: 'step-slider', attrs: { type: 'range', min: '0', max: '0', step: '1', value: '0', 'aria-label': 'snapshot step' } });
const prevButton = custom('vscode-button', { secondary: '', 'aria-label': 'previous step' }, '◀');
const nextButton = custom('vscode-button', { secondary: '', 'aria-label': 'next step' }, '▶');
const followLatest = custom('vscode-checkbox', { label: 'follow latest' }) as ValueElement;
const allSteps = custom('vscode-checkbox', { label: 'all steps' }) as ValueElement;
const sortSelect = custom('vscode-single-select', { 'aria-label': 'sort by' }) as ValueElement;
const SORT_LABELS: Record<string, string> = { prompt: 'prompt', reward: 'policy reward', gap: 'policy − BoN gap', kl: 'KL contribution' };
for (const sort of SAMPLE_SORTS) sortSelect.append(custom('vscode-option', { value: sort }, `sort: ${SORT_LABELS[sort]}`));
const orderButton = custom('vscode-button', { secondary: '', 'aria-label': 'sort direction' });
const filterSelect = custom('vscode-single-select', { 'aria-label': 'filter' }) as ValueElement;
const FILTER_LABELS: Record<string, string> = { all: 'all rows', beats: 'policy beats BoN', loses: 'policy loses to BoN', truncated: 'truncated' };
for (const filter of SAMPLE_FILTERS) filterSelect.append(custom('vscode-option', { value: filter }, FILTER_LABELS[filter]));
const searchField = custom('vscode-textfield', { placeholder: 'search prompts and samples', 'aria-label': 'search' }) as ValueElement;
const promptChip = h('span', { className: 'prompt-chip' });
// Following the latest step waits while a row's details are open (the user is reading it): this says
// a newer snapshot is there, and closing the details (or this button) shows it.
const newerButton = custom('vscode-button', { secondary: '', 'aria-label': 'show the newer step' }, '') as HTMLElement;
newerButton.classList.add('newer-step');
newerButton.hidden = true;
let pendingLatest: number | null = null;
const countLabel = h('span', { className: 'row-count', attrs: { 'aria-live': 'polite' } });

// ---- table ----
const headerRow = h('div', { className: 'sample-row sample-head', attrs: { role: 'row' } }, [
  h('div', { text: 'prompt', attrs: { role: 'columnheader' } }), h('div', { text: 'policy', attrs: { role: 'columnheader' } }),
  h('div', { text: 'anchor', attrs: { role: 'columnheader' } }), h('div', { text: 'Best-of-N', attrs: { role: 'columnheader' } }),
]);
const spacer = h('div', { className: 'spacer' });
const viewport = h('div', { className: 'rows', attrs: { role: 'grid', tabindex: '0', 'aria-label': 'samples' } }, [spacer]);
const details = h('aside', { className: 'details', attrs: { 'aria-label': 'sample details' } });
details.hidden = true;

function post(message: SamplesToHost): void {
  host.post(message);
}

function save(): void {
  host.saveState(state);
}

/** A cell's text, clipped, with the search's matches marked; says when the match lies past the cut. */
function shownText(text: string): HTMLElement[] {
  const shown = clip(text, CELL_CHARS);
  const needle = state.search.trim().toLowerCase();
  const parts: HTMLElement[] = [modelText('div', 'cell-text', shown, needle)];
  if (needle && shown.length < text.length && !shown.toLowerCase().includes(needle) && text.toLowerCase().includes(needle)) {
    parts.push(h('div', { className: 'cell-note', text: 'the match is further in the text (Enter to read it all)' }));
  }
  return parts;
}

function scored(label: string, sample: ScoredText | undefined, extra?: string): HTMLElement {
  if (!sample) return h('div', { className: 'cell empty', text: '—' });
  return h('div', { className: 'cell' }, [
    ...shownText(sample.text),
    h('div', { className: 'cell-stats', text: `${label} r ${formatNumber(sample.reward)} · log p̂≤ ${formatNumber(sample.log_quantile)} · log π ${formatNumber(sample.logp_policy, 1)}${sample.truncated ? ' · truncated' : ''}${extra ?? ''}` }),
  ]);
}

/** The win/loss cue compares the policy's mean reward over its K samples with Best-of-N's: it says so. */
function cue(record: SampleRecord): HTMLElement {
  const gap = gapToBon(record);
  const kind = gap > 0 ? 'win' : gap < 0 ? 'loss' : 'tie';
  const who = record.policy.length > 1 ? `policy mean of ${record.policy.length}` : 'policy';
  const text = gap > 0 ? `${who} beats BoN by ${formatNumber(gap)}` : gap < 0 ? `${who} loses to BoN by ${formatNumber(-gap)}` : `${who} ties BoN`;
  return h('span', { className: `cue cue-${kind}`, text });
}

/** The policy column: with several samples, first what the cue compares (mean and count), then sample 1. */
function policyCell(record: SampleRecord): HTMLElement {
  const cell = scored(record.policy.length > 1 ? 'sample 1:' : '', record.policy[0]);
  if (record.policy.length > 1) {
    cell.prepend(h('div', { className: 'cell-summary', text: `mean r ${formatNumber(policyReward(record))} over ${record.policy.length} samples (Enter: all of them)` }));
  }
  return cell;
}

function renderRow(record: SampleRecord, index: number): HTMLElement {
  const key = keyOf(record);
  const focused = state.focus !== null && isSameKey(state.focus, key);
  const row = h('div', {
    className: `sample-row${focused ? ' focused' : ''}`,
    attrs: { role: 'row', 'data-step': String(record.step), 'data-prompt': String(record.prompt_id), 'aria-rowindex': String(index + 1), 'aria-selected': String(focused) },
  }, [
    h('div', { className: 'cell prompt-cell' }, [
      h('div', { className: 'cell-meta', text: `step ${record.step} · prompt #${record.prompt_id}` }),
      ...shownText(record.prompt),
      cue(record),
    ]),
    policyCell(record),
    scored('', record.anchor[0], record.anchor.length > 1 ? ` · +${record.anchor.length - 1} more` : ''),
    scored(`#${record.bon.winner} of ${record.bon.n}`, record.bon.best),
  ]);
  row.style.top = `${index * ROW_HEIGHT}px`;
  return row;
}

function render(): void {
  renderFrame = 0;
  spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW_HEIGHT) + OVERSCAN);
  const visible: HTMLElement[] = [];
  for (let i = first; i < last; i++) visible.push(renderRow(rows[i] as SampleRecord, i));
  viewport.replaceChildren(spacer, ...visible);
  countLabel.textContent = `${rows.length.toLocaleString()} of ${records.length.toLocaleString()} rows`;
  if (rows.length === 0) {
    viewport.append(h('div', { className: 'empty-state', text: records.length ? 'No rows match the filter or search.' : 'No samples yet: the trainer writes them every samples.every steps.' }));
  }
}

function scheduleRender(): void {
  if (!renderFrame) renderFrame = requestAnimationFrame(render);
}

function updateToolbar(): void {
  runLabel.textContent = run ? `${run.name} · ${run.status} · step ${run.step} of ${run.totalSteps}` : '';
  const index = state.step === null ? steps.length - 1 : Math.max(0, steps.indexOf(state.step));
  stepSlider.max = String(Math.max(0, steps.length - 1));
  stepSlider.value = String(Math.max(0, index));
  const showingAll = state.step === null || state.promptId !== null;
  stepLabel.textContent = state.promptId !== null ? 'all steps of one prompt' : showingAll ? `all ${steps.length} steps` : `step ${state.step} (${index + 1} of ${steps.length})`;
  stepSlider.disabled = showingAll;
  followLatest.checked = state.followLatest;
  if (!state.followLatest || state.step === null) {
    pendingLatest = null; // not following (or all steps shown): nothing waits
    newerButton.hidden = true;
  }
  allSteps.checked = state.step === null;
  sortSelect.value = state.sort;
  filterSelect.value = state.filter;
  orderButton.textContent = state.descending ? '↓ descending' : '↑ ascending';
  if (searchField.value !== state.search) searchField.value = state.search;
  promptChip.replaceChildren();
  if (state.promptId !== null) {
    const stop = custom('vscode-button', { secondary: '' }, 'stop following');
    stop.addEventListener('click', () => {
      state.promptId = null;
      refresh();
    });
    promptChip.append(h('span', { text: `following prompt #${state.promptId} across steps ` }), stop);
  }
}

/** Recompute rows from state (filter, sort, search) and redraw. */
function refresh(): void {
  rows = selectRows(records, { step: state.step, promptId: state.promptId, filter: state.filter, search: state.search, sort: state.sort, descending: state.descending });
  updateToolbar();
  scheduleRender();
  renderDetails();
  save();
  announceStep();
}

/** The dashboards mark the step shown here: say when it changes (null: all steps, or one prompt across steps). */
let announcedStep: number | null | undefined;
function announceStep(): void {
  const shown = state.promptId !== null ? null : state.step;
  if (shown === announcedStep) return;
  announcedStep = shown;
  post({ type: 'stepShown', step: shown });
}

/** A step asked for before the snapshot arrived (a chart click opened this view). */
let requestedStep: number | null = null;

/** Show the snapshot nearest `step` (ties: the earlier one), leaving "follow latest" and "one prompt". */
function showNearestStep(step: number): void {
  if (!steps.length) {
    requestedStep = step;
    return;
  }
  requestedStep = null;
  state.promptId = null;
  state.followLatest = false;
  state.step = steps[nearestIndex(steps, step) ?? 0] ?? null;
  refresh();
}

function setStep(step: number | null): void {
  state.step = step;
  state.followLatest = step !== null && step === steps.at(-1) ? state.followLatest : false;
  refresh();
}

/** Mark the focused row among the rendered ones (no re-render, so a double-click lands on the same node). */
function markFocus(): void {
  for (const row of viewport.querySelectorAll<HTMLElement>('.sample-row')) {
    const focused = state.focus !== null && Number(row.dataset.step) === state.focus.step && Number(row.dataset.prompt) === state.focus.promptId;
    row.classList.toggle('focused', focused);
    row.setAttribute('aria-selected', String(focused));
  }
}

function setFocus(key: SampleKey, fromUser: boolean): void {
  state.focus = key;
  if (expanded) expanded = key;
  markFocus();
  renderDetails();
  save();
  if (fromUser) post({ type: 'focus', key, order: rows.map(keyOf) });
}

function toggleDetails(key: SampleKey): void {
  expanded = expanded && isSameKey(expanded, key) ? null : key;
  setFocus(key, true);
}

function scrollToFocus(): void {
  if (!state.focus) return;
  const index = rows.findIndex((record) => isSameKey(keyOf(record), state.focus as SampleKey));
  if (index < 0) return;
  const top = index * ROW_HEIGHT;
  if (top < viewport.scrollTop || top + ROW_HEIGHT > viewport.scrollTop + viewport.clientHeight) {
    viewport.scrollTop = Math.max(0, top - viewport.clientHeight / 2 + ROW_HEIGHT / 2);
  }
  scheduleRender();
}

function sampleBlock(title: string, samples: ScoredText[]): HTMLElement {
  return h('section', { className: 'detail-block' }, [
    h('h3', { text: title }),
    ...samples.map((sample, i) => h('div', { className: 'detail-sample' }, [
      h('div', { className: 'cell-stats', text: `#${i} · reward ${formatNumber(sample.reward)} · log p̂≤ ${formatNumber(sample.log_quantile)} · log π ${formatNumber(sample.logp_policy, 2)} · log π_anchor ${formatNumber(sample.logp_anchor, 2)} · log π_ref ${formatNumber(sample.logp_ref, 2)}${sample.truncated ? ' · truncated' : ''}` }),
      modelText('pre', 'detail-text', sample.text),
    ])),
  ]);
}

function renderDetails(): void {
  const record = expanded ? records.find((r) => isSameKey(keyOf(r), expanded as SampleKey)) : undefined;
  details.hidden = !record;
  if (!record) {
    details.replaceChildren();
    // done reading: a newer snapshot that waited is shown now
    if (pendingLatest !== null && state.followLatest) queueMicrotask(showLatest);
    return;
  }
  const close = custom('vscode-button', { secondary: '' }, 'Close');
  close.addEventListener('click', () => {
    expanded = null;
    renderDetails();
  });
  const follow = custom('vscode-button', {}, 'Follow this prompt across steps');
  follow.addEventListener('click', () => {
    state.promptId = record.prompt_id;
    state.sort = 'prompt';
    refresh();
    scrollToFocus();
  });
  const candidates = h('table', { className: 'candidates' }, [
    h('thead', {}, [h('tr', {}, [h('th', { text: '#' }), h('th', { text: 'reward' }), h('th', { text: 'candidate' })])]),
    h('tbody', {}, record.bon.candidates.map((candidate, i) => h('tr', { className: i === record.bon.winner ? 'winner' : '' }, [
      h('td', { text: i === record.bon.winner ? `${i} ★ won` : String(i) }),
      h('td', { text: formatNumber(candidate.reward) }),
      h('td', {}, [modelText('pre', 'detail-text', candidate.text)]),
    ]))),
  ]);
  details.replaceChildren(
    h('div', { className: 'details-head' }, [h('h2', { text: `Step ${record.step} · prompt #${record.prompt_id}` }), follow, close]),
    modelText('pre', 'detail-text prompt-text', record.prompt),
    h('div', { className: 'cell-stats', text: `policy mean reward ${formatNumber(policyReward(record))} · Best-of-${record.bon.n} reward ${formatNumber(record.bon.best.reward)} · gap ${formatNumber(gapToBon(record))} · KL contribution ${formatNumber(klContribution(record))}${isTruncated(record) ? ' · has truncated samples' : ''}` }),
    sampleBlock('Policy samples', record.policy),
    sampleBlock('Anchor samples', record.anchor),
    h('section', { className: 'detail-block' }, [h('h3', { text: `Best-of-${record.bon.n}: all candidates (the winner is starred)` }), candidates]),
  );
}

// ---- events ----
/** Rows are recreated as they scroll into view, so clicks are handled once, on the viewport. */
function rowKey(event: Event): SampleKey | undefined {
  const row = (event.target as Element | null)?.closest<HTMLElement>('.sample-row');
  if (!row || row.classList.contains('sample-head')) return undefined;
  return { step: Number(row.dataset.step), promptId: Number(row.dataset.prompt) };
}
viewport.addEventListener('click', (event) => {
  const key = rowKey(event);
  if (key) setFocus(key, true);
});
viewport.addEventListener('dblclick', (event) => {
  const key = rowKey(event);
  if (!key) return;
  expanded = key; // the first click already moved focus (and open details) here: a double-click opens
  setFocus(key, false);
});
viewport.addEventListener('scroll', scheduleRender, { passive: true });
viewport.addEventListener('keydown', (event) => {
  const index = state.focus ? rows.findIndex((r) => isSameKey(keyOf(r), state.focus as SampleKey)) : -1;
  const page = Math.max(1, Math.floor(viewport.clientHeight / ROW_HEIGHT));
  const move = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity }[event.key];
  if (move !== undefined && rows.length) {
    event.preventDefault();
    const next = Math.min(rows.length - 1, Math.max(0, index < 0 ? 0 : index + move));
    setFocus(keyOf(rows[next] as SampleRecord), true);
    scrollToFocus();
  } else if (event.key === 'Enter' && state.focus) {
    toggleDetails(state.focus);
    // The details open below the rows, often past the fold: bring them into view and move the
    // keyboard there (Escape comes back to the row).
    if (expanded) requestAnimationFrame(focusDetails);
  } else if (event.key === 'Escape' && expanded) {
    expanded = null;
    renderDetails();
  }
});

function focusDetails(): void {
  const heading = details.querySelector<HTMLElement>('h2');
  if (!heading || details.hidden) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: true });
  details.scrollIntoView({ block: 'nearest' });
}

details.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || !expanded) return;
  event.stopPropagation();
  expanded = null;
  renderDetails();
  viewport.focus({ preventScroll: true });
  scrollToFocus();
});
stepSlider.addEventListener('input', () => setStep(steps[Number(stepSlider.value)] ?? null));
prevButton.addEventListener('click', () => {
  const index = state.step === null ? steps.length - 1 : steps.indexOf(state.step);
  setStep(steps[Math.max(0, index - 1)] ?? null);
});
nextButton.addEventListener('click', () => {
  const index = state.step === null ? steps.length - 1 : steps.indexOf(state.step);
  setStep(steps[Math.min(steps.length - 1, index + 1)] ?? null);
});
followLatest.addEventListener('change', () => {
  state.followLatest = Boolean(followLatest.checked);
  if (state.followLatest) state.step = steps.at(-1) ?? null;
  refresh();
});
allSteps.addEventListener('change', () => {
  state.step = allSteps.checked ? null : steps.at(-1) ?? null;
  state.followLatest = !allSteps.checked && state.followLatest;
  refresh();
});
sortSelect.addEventListener('change', () => {
  state.sort = SAMPLE_SORTS.find((s) => s === sortSelect.value) ?? 'prompt';
  refresh();
});
orderButton.addEventListener('click', () => {
  state.descending = !state.descending;
  refresh();
});
filterSelect.addEventListener('change', () => {
  state.filter = SAMPLE_FILTERS.find((f) => f === filterSelect.value) ?? 'all';
  refresh();
});
let searchTimer = 0;
searchField.addEventListener('input', () => {
  state.search = searchField.value; // at once, so a refresh from elsewhere keeps what was typed
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(refresh, 120);
});
newerButton.addEventListener('click', () => {
  expanded = null;
  renderDetails();
  showLatest();
});
new ResizeObserver(scheduleRender).observe(viewport);

function showLatest(): void {
  pendingLatest = null;
  newerButton.hidden = true;
  state.step = steps.at(-1) ?? null;
  refresh();
}

function applyRecords(next: SampleRecord[], replace: boolean): void {
  records = replace ? next : records.concat(next);
  steps = stepsOf(records);
  const latest = steps.at(-1) ?? null;
  const reading = expanded !== null && state.step !== null && steps.includes(state.step);
  if (state.followLatest && reading && latest !== state.step) {
    pendingLatest = latest;
    newerButton.textContent = `step ${latest} is newer: show it`;
    newerButton.hidden = false;
  } else if (state.followLatest || (state.step !== null && !steps.includes(state.step))) {
    state.step = latest;
  }
  if (requestedStep !== null && steps.length) return showNearestStep(requestedStep);
  refresh();
}

onHostMessage<HostToSamples>((message) => {
  const verdict = tracker.accept(message.seq, message.type === 'snapshot');
  if (verdict === 'gap') {
    post({ type: 'requestSnapshot', reason: `sequence gap at ${message.seq}` });
    return;
  }
  if (verdict === 'skip') return;
  switch (message.type) {
    case 'snapshot':
      run = message.run;
      state.dir = run.dir;
      applyRecords(message.records, true);
      scrollToFocus();
      break;
    case 'append':
      applyRecords(message.records, false);
      break;
    case 'run':
      run = message.run;
      updateToolbar();
      break;
    case 'reveal': {
      const key = message.key;
      if (state.promptId === null && state.step !== null && state.step !== key.step) {
        state.step = key.step;
        state.followLatest = false;
        refresh();
      }
      setFocus(key, false);
      if (expanded) expanded = key;
      renderDetails();
      scrollToFocus();
      break;
    }
    case 'showStep':
      showNearestStep(message.step);
      break;
    case 'skipped':
      renderSkipped(skippedNotice, message.skipped, (report) => post({ type: 'openSamplesFile', line: report.firstLine }));
      break;
    default:
      exhaustive(message);
  }
});

/** Lines of samples.jsonl the view could not use: said, never dropped silently. */
const skippedNotice = h('div', { className: 'skipped-lines', attrs: { role: 'status' } });
skippedNotice.hidden = true;
const dashboardButton = custom('vscode-button', { secondary: '' }, 'Open Dashboard');
dashboardButton.addEventListener('click', () => post({ type: 'command', command: 'openDashboard' }));
document.body.append(
  h('header', { className: 'toolbar' }, [runLabel, dashboardButton]),
  h('div', { className: 'toolbar' }, [prevButton, stepSlider, nextButton, stepLabel, followLatest, allSteps, newerButton]),
  h('div', { className: 'toolbar' }, [sortSelect, orderButton, filterSelect, searchField, countLabel, promptChip]),
  skippedNotice,
  h('div', { className: 'table' }, [headerRow, viewport]),
  details,
);
updateToolbar();
announceReady(() => post({ type: 'ready' }), () => tracker.awaitingSnapshot);
