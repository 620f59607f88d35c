/**
 * The Sweep view: one sweep's configurations — the plot of their means over the seeds with error
 * bars and Optuna's Pareto front, the best per objective, the trials table (parameters × objectives),
 * parallel coordinates and parameter importance — live while the sweep runs (the host sends the
 * whole sweep on every change). Colours are per configuration, the same in the table, the plot and
 * the parallel coordinates.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import { SequenceTracker } from '../../contracts/webviews/guards';
import {
  parseSweepState, type HostToSweep, type SweepConfiguration, type SweepState, type SweepToHost, type SweepView,
} from '../../contracts/webviews/sweep';
import { custom, h } from '../shared/dom';
import { formatNumber } from '../shared/format';
import { onThemeChange, palette, themeColours } from '../shared/theme';
import { announceReady, connect, exhaustive, onHostMessage } from '../shared/vscode';
import { importanceBars, ParallelCoordinates } from './parallel';
import { PAPER_X, PAPER_Y, seedValues, SweepPlot } from './plot';
import { halfBar, spread } from './stats';

const host = connect<SweepToHost, SweepState>();
const tracker = new SequenceTracker();
let state: SweepState = parseSweepState(host.savedState()) ?? { folder: '', xMetric: PAPER_X, yMetric: PAPER_Y, errorBars: 'std', logX: false, sort: { column: 'trial', descending: false } };
let sweep: SweepView | undefined;
let colours = palette();

/** A configuration's colour: by its place among the sweep's configurations, as in every part of the view. */
function colourOf(trial: number): string {
  const index = sweep?.trials.findIndex((t) => t.number === trial) ?? -1;
  return colours[Math.max(0, index) % colours.length] ?? '#888';
}

const open = (trial: number): void => {
  const dirs = sweep?.trials.find((t) => t.number === trial)?.seeds.map((s) => s.dir) ?? [];
  if (dirs.length) host.post({ type: 'openRuns', dirs });
};

const header = h('header', { className: 'sweep-header', attrs: { 'aria-live': 'polite' } });
const notes = h('div', { className: 'sweep-notes', attrs: { role: 'status' } });
const plot = new SweepPlot({ colour: colourOf, theme: themeColours, open });
const parallel = new ParallelCoordinates(colourOf, themeColours);
const xSelect = h('select', { className: 'select', attrs: { 'aria-label': 'x axis' } });
const ySelect = h('select', { className: 'select', attrs: { 'aria-label': 'y axis' } });
const barsSelect = h('select', { className: 'select', attrs: { 'aria-label': 'error bars' } });
barsSelect.append(h('option', { text: '± 1 std over seeds', attrs: { value: 'std' } }), h('option', { text: '95% CI of the mean', attrs: { value: 'ci95' } }));
const logX = h('input', { attrs: { type: 'checkbox', 'aria-label': 'log x' } });
logX.checked = state.logX;
logX.addEventListener('change', () => {
  state = { ...state, logX: logX.checked };
  host.saveState(state);
  render();
});
const best = h('section', { className: 'sweep-best' });
const table = h('section', { className: 'sweep-table' });
const importance = h('section', { className: 'sweep-importance' });
const empty = h('div', { className: 'empty-state', text: 'Waiting for the sweep…' });

document.body.append(h('div', { className: 'sweep' }, [
  header, notes, empty,
  h('section', { className: 'chart sweep-scatter' }, [
    h('div', { className: 'chart-title' }, [h('span', { text: 'Configurations: mean over seeds' }), h('span', { className: 'controls' }, [
      h('label', { text: 'x ' }), xSelect, h('label', { className: 'check' }, [logX, 'log x']), h('label', { text: ' y ' }), ySelect,
      h('label', { text: ' bars ' }), barsSelect,
    ])]),
    plot.element,
  ]),
  best,
  table,
  h('section', { className: 'chart' }, [h('div', { className: 'chart-title' }, [h('span', { text: 'Parallel coordinates' })]), parallel.element]),
  h('section', { className: 'chart' }, [h('div', { className: 'chart-title' }, [h('span', { text: 'Parameter importance (Optuna)' })]), importance]),
]));

for (const [select, key] of [[xSelect, 'xMetric'], [ySelect, 'yMetric'], [barsSelect, 'errorBars']] as const) {
  select.addEventListener('change', () => {
    state = { ...state, [key]: select.value };
    host.saveState(state);
    render();
  });
}

/** Every evaluation metric some seed reports: the axes one can choose. */
function evalMetrics(view: SweepView): string[] {
  const keys = new Set<string>([PAPER_X, PAPER_Y]);
  for (const trial of view.trials) for (const seed of trial.seeds) for (const key of Object.keys(seed.evaluation ?? {})) if (key.startsWith('eval/')) keys.add(key);
  return [...keys].sort();
}

function fillSelect(select: HTMLSelectElement, options: string[], value: string): void {
  if (select.options.length !== options.length || [...select.options].some((o, i) => o.value !== options[i])) {
    select.replaceChildren(...options.map((o) => h('option', { text: o, attrs: { value: o } })));
  }
  select.value = value;
}

function counts(view: SweepView): string {
  const byState = new Map<string, number>();
  for (const trial of view.trials) byState.set(trial.state, (byState.get(trial.state) ?? 0) + 1);
  const words: Record<string, string> = { complete: 'done' };
  const total = view.maxTrials !== null ? ` of ${view.maxTrials}` : '';
  return `${view.trials.length}${total} configuration(s) × ${view.seeds.length || '?'} seed(s): `
    + ([...byState.entries()].map(([s, n]) => `${n} ${words[s] ?? s}`).join(' · ') || 'none yet');
}

function renderHeader(view: SweepView): void {
  const button = (label: string, onClick: () => void, secondary = true): HTMLElement => {
    const b = custom('vscode-button', secondary ? { secondary: '' } : {}, label);
    b.addEventListener('click', onClick);
    return b;
  };
  const actions: HTMLElement[] = [];
  if (view.active) actions.push(button('Stop', () => host.post({ type: 'command', command: 'stop' }), false));
  else if (view.status !== 'completed') actions.push(button('Resume', () => host.post({ type: 'command', command: 'resume' }), false));
  if (!view.active && view.method !== 'grid') {
    actions.push(button('Add trials…', () => host.post({ type: 'addTrials', count: 0 < addCount.valueAsNumber ? addCount.valueAsNumber : 1 })));
  }
  actions.push(button('Reveal Folder', () => host.post({ type: 'command', command: 'revealFolder' })));
  header.replaceChildren(
    h('h2', { text: `Sweep ${view.name}` }),
    custom('vscode-badge', {}, view.active ? 'running' : view.status),
    h('span', { className: 'muted', text: ` ${view.method} · ${counts(view)}` }),
    h('div', { className: 'actions' }, [...actions, ...(!view.active && view.method !== 'grid' ? [addCount] : [])]),
  );
}

const addCount = h('input', { className: 'add-count', attrs: { type: 'number', min: '1', max: '1000', value: '4', 'aria-label': 'trials to add' } });

function meanCell(trial: SweepConfiguration, metric: string): { text: string; sortValue: number | null; title: string } {
  const s = spread(seedValues(trial, metric));
  if (!s) return { text: '—', sortValue: null, title: '' };
  const bar = halfBar(s, state.errorBars);
  const ci = s.ci95 === null ? '' : `; 95% CI ± ${formatNumber(s.ci95)}`;
  return { text: bar === null ? formatNumber(s.mean) : `${formatNumber(s.mean)} ± ${formatNumber(bar)}`, sortValue: s.mean,
    title: `${s.n} seed(s): mean ${formatNumber(s.mean)}${s.std === null ? '' : `, std ${formatNumber(s.std)}`}${ci}` };
}

function progressOf(trial: SweepConfiguration): string {
  const running = trial.seeds.filter((s) => s.status === 'running' || s.status === 'starting');
  const done = trial.seeds.filter((s) => s.status === 'completed').length;
  const total = Math.max(sweep?.seeds.length ?? 0, trial.seeds.length);
  const live = running.map((s) => `s${s.seed} ${s.step ?? 0}/${s.totalSteps ?? '?'}`).join(', ');
  return `${done}/${total}${live ? ` · ${live}` : ''}`;
}

function renderTable(view: SweepView): void {
  const params = view.parameters.filter((p) => view.trials.some((t) => p in t.params));
  const metrics = view.objectives.map((o) => o.metric);
  const columns = ['trial', 'state', ...params, ...metrics, 'seeds'];
  const cellOf = (trial: SweepConfiguration, column: string): { text: string; sortValue: string | number | null; title?: string } => {
    if (column === 'trial') return { text: String(trial.number), sortValue: trial.number };
    if (column === 'state') return { text: trial.state + (trial.feasible === false ? ' (infeasible)' : ''), sortValue: trial.state, title: trial.error ?? '' };
    if (column === 'seeds') return { text: progressOf(trial), sortValue: trial.seeds.filter((s) => s.status === 'completed').length };
    if (metrics.includes(column)) return meanCell(trial, column);
    const raw = trial.params[column];
    if (raw === undefined) return { text: '—', sortValue: null, title: 'not a field of this configuration’s algorithm' };
    const number = Number(raw);
    return { text: raw.replace(/^"|"$/g, ''), sortValue: Number.isFinite(number) ? number : raw };
  };
  const rows = view.trials.map((trial) => ({ trial, cells: new Map(columns.map((c) => [c, cellOf(trial, c)])) }));
  const { column, descending } = state.sort;
  rows.sort((a, b) => {
    const x = a.cells.get(column)?.sortValue ?? null;
    const y = b.cells.get(column)?.sortValue ?? null;
    if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1; // blanks last
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  const label = (c: string): string => {
    const objective = view.objectives.find((o) => o.metric === c);
    return objective ? `${c} ${objective.goal === 'maximize' ? '↑' : '↓'}` : c;
  };
  const head = h('tr', {}, [...columns.map((c) => h('th', { attrs: { 'data-column': c, 'aria-sort': c === column ? (descending ? 'descending' : 'ascending') : 'none' } }, [
    h('button', { className: 'link-button sort-button', text: `${label(c)}${c === column ? (descending ? ' ▼' : ' ▲') : ''}`, on: { click: () => {
      state = { ...state, sort: { column: c, descending: state.sort.column === c ? !state.sort.descending : false } };
      host.saveState(state);
      renderTable(view);
    } } }),
  ])), h('th', { text: '' })]);
  const front = new Set(view.paretoFront);
  const body = rows.map(({ trial, cells }) => h('tr', { attrs: { 'data-trial': String(trial.number), 'data-state': trial.state, ...(front.has(trial.number) ? { 'data-front': '' } : {}) } }, [
    ...columns.map((c) => {
      const cell = cells.get(c)!;
      const td = h('td', { text: cell.text, title: cell.title });
      if (c === 'trial') {
        const swatch = h('span', { className: 'swatch' });
        swatch.style.background = colourOf(trial.number);
        td.prepend(swatch);
        if (front.has(trial.number)) td.append(h('span', { className: 'front-mark', text: ' ◯', title: 'on Optuna’s Pareto front' }));
      }
      return td;
    }),
    h('td', {}, [
      h('button', { className: 'link-button', text: 'Dashboard', on: { click: () => open(trial.number) } }),
      ...(trial.seeds[0] ? [h('span', { text: ' · ' }), h('button', { className: 'link-button', text: 'Samples', on: { click: () => host.post({ type: 'openSamples', dir: trial.seeds[0]!.dir }) } })] : []),
    ]),
  ]));
  table.replaceChildren(h('table', { className: 'compare-table trials-table' }, [h('thead', {}, [head]), h('tbody', {}, body)]));
}

function renderBest(view: SweepView): void {
  if (!view.best.length) {
    best.replaceChildren(h('p', { className: 'muted', text: 'The best configuration per objective appears once one has finished.' }));
    return;
  }
  best.replaceChildren(h('h3', { text: 'Best per objective' }), ...view.best.map((b) => {
    const trial = view.trials.find((t) => t.number === b.trial);
    const params = trial ? Object.entries(trial.params).map(([k, v]) => `${k}=${v.replace(/^"|"$/g, '')}`).join(', ') : '';
    const value = trial ? meanCell(trial, b.metric).text : '—';
    const swatch = h('span', { className: 'swatch' });
    swatch.style.background = colourOf(b.trial);
    return h('div', { className: 'best-row', attrs: { 'data-metric': b.metric, 'data-trial': String(b.trial) } }, [
      swatch, h('span', { text: ` ${b.goal === 'maximize' ? 'highest' : 'lowest'} ${b.metric}: trial ${b.trial} (${params}) ${value} ` }),
      h('button', { className: 'link-button', text: 'Dashboard', on: { click: () => open(b.trial) } }),
      ...(trial?.seeds[0] ? [h('span', { text: ' · ' }), h('button', { className: 'link-button', text: 'Samples', on: { click: () => host.post({ type: 'openSamples', dir: trial.seeds[0]!.dir }) } })] : []),
    ]);
  }));
}

function render(): void {
  if (!sweep) return;
  empty.hidden = sweep.trials.length > 0;
  empty.textContent = 'No configuration has started yet.';
  renderHeader(sweep);
  notes.replaceChildren(...sweep.notes.map((note) => h('p', { className: 'note', text: note })));
  const metrics = evalMetrics(sweep);
  fillSelect(xSelect, metrics, state.xMetric);
  fillSelect(ySelect, metrics, state.yMetric);
  barsSelect.value = state.errorBars;
  plot.draw(sweep.trials, sweep.paretoFront, state.xMetric, state.yMetric, state.errorBars, state.logX);
  renderBest(sweep);
  renderTable(sweep);
  parallel.draw(sweep.trials, sweep.parameters, sweep.objectives);
  importance.replaceChildren(importanceBars(sweep.importance, sweep.importanceNote));
  document.body.dataset.updates = String(Number(document.body.dataset.updates ?? '0') + 1);
}

onHostMessage<HostToSweep>((message) => {
  switch (message.type) {
    case 'snapshot':
      tracker.accept(message.seq, true);
      sweep = message.sweep;
      if (state.folder !== sweep.folder) {
        state = { ...state, folder: sweep.folder };
        host.saveState(state);
      }
      render();
      return;
    default:
      exhaustive(message.type);
  }
});

onThemeChange(() => {
  colours = palette();
  render();
});
// the canvases follow the panel's width (a height change is the view's own doing)
let resizeFrame = 0;
let drawnWidth = 0;
new ResizeObserver(() => {
  if (document.body.clientWidth === drawnWidth) return;
  drawnWidth = document.body.clientWidth;
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(render);
}).observe(document.body);

announceReady(() => host.post({ type: 'ready' }), () => tracker.awaitingSnapshot);
