/** The dashboard webview: live charts of one run, or several overlaid (compare mode). */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import {
  parseDashboardState, type DashboardCommand, type DashboardRun, type DashboardState, type DashboardToHost, type HostToDashboard,
  type SkippedLines, type SnapshotMetrics,
} from '../../contracts/webviews/dashboard';
import { SequenceTracker } from '../../contracts/webviews/guards';
import { custom, h } from '../shared/dom';
import { formatDuration } from '../shared/format';
import { onThemeChange, palette, themeColours } from '../shared/theme';
import { announceReady, connect, exhaustive, onHostMessage } from '../shared/vscode';
import { MetricChart, type ChartContext } from './chart';
import { RunData } from './model';
import { ParetoScatter } from './scatter';
import { renderSkipped } from '../shared/skipped';
import { compareTable, PICKED_ORDER, sortedRunIndices, type SortState } from './compare';
import { chartSpecs as chartSpecsFor, type ChartSpec } from './specs';

const host = connect<DashboardToHost, DashboardState>();
const tracker = new SequenceTracker();
const saved = parseDashboardState(host.savedState());
const state: DashboardState = saved ?? { dirs: [], xAxis: 'step', smoothing: 0.6, hidden: [], exportBackground: 'light', ignoreOutliers: false, logCharts: [] };
const hidden = new Set(state.hidden);

let runs: RunData[] = [];
let charts: MetricChart[] = [];
let scatter: ParetoScatter | undefined;
let colours = palette();
let frame = 0;

const header = h('header', { className: 'runs-header', attrs: { 'aria-live': 'polite' } });
const smoothingValue = h('span', { className: 'smoothing-value', text: state.smoothing.toFixed(2) });
const smoothingSlider = h('input', {
  className: 'smoothing-slider',
  attrs: { type: 'range', min: '0', max: '0.99', step: '0.01', value: String(state.smoothing), 'aria-label': 'smoothing' },
});
const xAxisSelect = custom('vscode-single-select', { 'aria-label': 'x axis' });
xAxisSelect.append(custom('vscode-option', { value: 'step' }, 'step'), custom('vscode-option', { value: 'time' }, 'wall time'));
const main = h('main', { className: 'charts' });
const status = h('div', { className: 'empty-state', text: 'Waiting for the run’s data…' });
/** Compare mode: how the runs differ (config fields) and where they ended (last evaluation). */
const compareSection = h('section', { className: 'compare' });
compareSection.hidden = true;
let compareSort: SortState = { column: PICKED_ORDER, descending: false };

function renderCompare(): void {
  compareSection.hidden = runs.length < 2;
  if (runs.length < 2) return compareSection.replaceChildren();
  // the one legend of runs, in the table's order and the charts' colours
  const legend = h('div', { className: 'runs-legend', attrs: { 'aria-label': 'runs' } }, sortedRunIndices(runs, compareSort).map((index) => {
    const swatch = h('span', { className: 'swatch' });
    swatch.style.background = context.runColour(index);
    return h('span', { className: 'legend-item' }, [swatch, h('span', { text: runs[index]!.header.name })]);
  }));
  compareSection.replaceChildren(legend, compareTable(runs, (index) => context.runColour(index), compareSort, (column) => {
    compareSort = { column, descending: compareSort.column === column ? !compareSort.descending : column !== 'run' };
    renderCompare();
    headerKey = ''; // the cards follow the table's order
    renderHeader();
  }));
}

/** Lines of the runs' metrics files the editor could not use: never dropped silently. */
const skippedNotice = h('div', { className: 'skipped-lines', attrs: { role: 'status' } });
skippedNotice.hidden = true;
let skippedCount = 0;

function showSkipped(reports: SkippedLines[]): void {
  skippedCount = reports.reduce((sum, r) => sum + r.count, 0);
  renderSkipped(skippedNotice, reports, (report) => host.post({ type: 'openMetricsFile', dir: report.dir, line: report.firstLine }),
    (report) => (runs.length > 1 ? `${runs.find((r) => r.header.dir === report.dir)?.header.name ?? report.dir}: ` : ''));
  updateEmptyState();
}

function updateEmptyState(): void {
  status.textContent = skippedCount > 0 ? 'No readable metric lines yet: see the skipped lines above.' : 'Waiting for the run’s data…';
}

function saveState(): void {
  state.dirs = runs.map((run) => run.header.dir);
  state.hidden = [...hidden];
  host.saveState(state);
}

const context: ChartContext = {
  runs: () => runs,
  xAxis: () => state.xAxis,
  smoothing: () => state.smoothing,
  isHidden: (key) => hidden.has(key),
  setHidden: (key, isHidden) => {
    if (isHidden) hidden.add(key);
    else hidden.delete(key);
    saveState();
  },
  compare: () => runs.length > 1,
  runColour: (index) => colours[index % colours.length] as string,
  seriesColour: (index) => colours[index % colours.length] as string,
  theme: themeColours,
  exportCsv: (fileName, content) => host.post({ type: 'exportCsv', fileName, content }),
  exportPng: (fileName, dataUrl) => host.post({ type: 'exportPng', fileName, dataUrl }),
  exportBackground: () => state.exportBackground,
  ignoreOutliers: () => state.ignoreOutliers,
  isLog: (chartId) => state.logCharts.includes(chartId),
  setLog: (chartId, log) => {
    state.logCharts = log ? [...new Set([...state.logCharts, chartId])] : state.logCharts.filter((id) => id !== chartId);
    saveState();
  },
  marker: (run) => markers.get(run.header.dir) ?? null,
  openSamplesAt: (run, step) => host.post({ type: 'openSamplesAt', dir: run.header.dir, step }),
};

/** The step each run's samples view shows: every chart marks it. */
const markers = new Map<string, number>();

function command(name: DashboardCommand, dir: string): void {
  host.post({ type: 'command', command: name, dir });
}

let headerKey = '';
/** compare mode: the cards the user opened (closed by default) */
const openCards = new Set<string>();

/**
 * The header is rebuilt only when what it shows changes shape (status, buttons, config, error);
 * step, progress and ETA tick in place, so a focused button keeps its focus while a run trains.
 */
function renderHeader(): void {
  const key = JSON.stringify(runs.map((run) => ({ ...run.header, step: 0, etaSeconds: null })));
  if (key !== headerKey) {
    headerKey = key;
    buildHeader();
  }
  for (const element of header.children) {
    const r = runs.find((run) => run.header.dir === (element as HTMLElement).dataset.dir)?.header;
    if (!r) continue;
    const progress = r.totalSteps > 0 ? Math.min(1, r.step / r.totalSteps) : 0;
    const stepText = element.querySelector('.run-step');
    if (stepText) stepText.textContent = `step ${r.step} of ${r.totalSteps}`;
    element.querySelector('.progress')?.setAttribute('aria-valuenow', String(r.step));
    const fill = element.querySelector<HTMLElement>('.progress-fill');
    if (fill) fill.style.width = `${(progress * 100).toFixed(1)}%`;
    const eta = element.querySelector('.run-eta');
    if (eta) eta.textContent = r.etaSeconds !== null ? `ETA ${formatDuration(r.etaSeconds)}` : '';
  }
}

function buildHeader(): void {
  const compare = runs.length > 1;
  // One order everywhere: the cards follow the compare table's rows (colours stay the runs' own).
  const order = compare ? sortedRunIndices(runs, compareSort) : runs.map((_, i) => i);
  header.replaceChildren(...order.map((index) => {
    const run = runs[index] as RunData;
    const r = run.header;
    const bar = h('div', { className: 'progress', attrs: { role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(r.totalSteps) } },
      [h('div', { className: 'progress-fill' })]);
    const swatch = h('span', { className: 'swatch' });
    swatch.style.background = context.runColour(index);
    const buttons: HTMLElement[] = [];
    const button = (label: string, name: DashboardCommand, secondary = true): void => {
      const b = custom('vscode-button', secondary ? { secondary: '' } : {}, label);
      b.dataset.command = name;
      b.addEventListener('click', () => command(name, r.dir));
      buttons.push(b);
    };
    if (r.canStop) button('Stop', 'stop', false);
    if (r.canResume) button('Resume', 'resume', false);
    button('Open Samples', 'openSamples');
    button('Reveal Folder', 'revealFolder');
    const headline = [
      h('div', { className: 'run-title' }, [
        compare ? swatch : null,
        h('span', { className: 'run-name', text: r.name }),
        custom('vscode-badge', { variant: 'counter', class: `status status-${r.status.replace(/[^a-z]/g, '')}` }, r.status),
        h('span', { className: 'run-algorithm', text: r.algorithm }),
      ]),
      h('div', { className: 'run-progress' }, [
        h('span', { className: 'run-step' }),
        bar,
        h('span', { className: 'run-eta' }),
        h('span', { className: 'run-device', text: `${r.device}${r.worldSize > 1 ? ` × ${r.worldSize} processes` : ''}${r.precision ? ` · ${r.precision}` : ''}` }),
      ]),
    ];
    const details = [
      r.model ? h('div', { className: 'run-model', text: r.model }) : null,
      r.note || r.tags?.length ? h('div', { className: 'run-annotations' }, [
        ...(r.tags ?? []).map((tag) => h('span', { className: 'chip run-tag', text: `#${tag}` })),
        r.note ? h('span', { className: 'run-user-note', text: r.note }) : null,
      ]) : null,
      h('div', { className: 'config-summary' }, r.configSummary.map((item) => h('span', { className: 'chip' }, [
        h('span', { className: 'chip-label', text: item.label }), h('span', { text: item.value }),
      ]))),
      r.summary?.length ? h('div', { className: 'run-summary', attrs: { 'aria-label': 'result summary' } }, r.summary.map((item) => h('span', { className: 'chip' }, [
        h('span', { className: 'chip-label', text: item.label }), h('span', { text: item.value }),
      ]))) : null,
      ...(r.configChanges ?? []).map((change) => h('div', { className: 'run-config-change', text: `config changed at step ${change.step}: ${change.changes.join(', ')}` })),
      r.error ? h('div', { className: 'run-error', text: r.error }) : null,
      ...(r.notes ?? []).map((note) => h('div', { className: 'run-note', text: note })),
      h('div', { className: 'run-actions' }, buttons),
    ];
    if (!compare) return h('div', { className: 'run-header', attrs: { 'data-dir': r.dir } }, [...headline, ...details]);
    // Several runs: a card per run that collapses to its headline (the table above holds the results),
    // so that the charts show on a small window; an error stays in view.
    const card = h('details', { className: 'run-header', attrs: { 'data-dir': r.dir } },
      [h('summary', {}, headline), ...details]) as HTMLDetailsElement;
    card.open = openCards.has(r.dir) || r.error !== null;
    card.addEventListener('toggle', () => (card.open ? openCards.add(r.dir) : openCards.delete(r.dir)));
    return card;
  }));
}

function chartSpecs(): ChartSpec[] {
  const trainKeys = new Set<string>();
  const evalKeys = new Set<string>();
  for (const run of runs) {
    for (const key of run.train.columns.keys()) trainKeys.add(key);
    for (const key of run.eval.columns.keys()) evalKeys.add(key);
  }
  return chartSpecsFor(runs.map((run) => run.header), trainKeys, evalKeys);
}

const SECTIONS: { id: ChartSpec['section']; title: string }[] = [
  { id: 'training', title: 'Training' }, { id: 'evaluation', title: 'Evaluation (held-out prompts)' },
  { id: 'performance', title: 'Throughput' }, { id: 'system', title: 'System' }, { id: 'other', title: 'Other metrics' },
];

/** Build the chart grid anew: on a snapshot, or when new metric names appear. */
function buildCharts(): void {
  for (const chart of charts) chart.destroy();
  charts = chartSpecs().map((spec) => new MetricChart(spec, context));
  scatter = new ParetoScatter(context);
  const sections = SECTIONS.map((section) => {
    const members = charts.filter((chart) => chart.spec.section === section.id && chart.hasData());
    if (members.length === 0) return null;
    return h('section', { className: 'chart-section', attrs: { 'data-section': section.id } }, [
      h('h2', { text: section.title }),
      h('div', { className: 'chart-grid' }, [...members.map((chart) => chart.element), section.id === 'evaluation' || (section.id === 'training' && !runs.some((r) => r.eval.length)) ? scatter?.element ?? null : null]),
    ]);
  });
  const any = sections.some(Boolean);
  status.hidden = any;
  main.replaceChildren(status, ...sections.filter((s): s is HTMLElement => s !== null));
  charts = charts.filter((chart) => chart.element.isConnected);
  for (const chart of charts) chart.refresh(true);
  scatter.draw();
  document.body.dataset.charts = String(charts.length);
}

let knownSpecs = '';
function specsKey(): string {
  return chartSpecs().filter((spec) => runs.some((run) => spec.series.some((s) => (spec.table === 'train' ? run.train : run.eval).columns.has(s.key)))).map((spec) => spec.id).join(',');
}

/** Redraw on the next frame: appends arriving together draw once. */
function scheduleRefresh(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const key = specsKey();
    if (key !== knownSpecs) {
      knownSpecs = key;
      buildCharts();
    } else {
      for (const chart of charts) chart.refresh();
      scatter?.draw();
    }
    document.body.dataset.lastStep = String(Math.max(0, ...runs.map((run) => run.lastStep)));
  });
}

/** A long history comes reduced: said, with how many lines stand for how many. */
const reducedNotice = h('div', { className: 'reduced-lines', attrs: { role: 'status' } });
reducedNotice.hidden = true;

function showReduced(metrics: SnapshotMetrics[]): void {
  const reduced = metrics.filter((m) => (m.lines ?? 0) > m.records.length);
  reducedNotice.hidden = reduced.length === 0;
  const name = (dir: string) => (runs.length > 1 ? `${runs.find((r) => r.header.dir === dir)?.header.name ?? dir}: ` : '');
  reducedNotice.textContent = reduced.map((m) => `${name(m.dir)}${(m.lines ?? 0).toLocaleString('en-US')} metric lines, drawn from `
    + `${m.records.length.toLocaleString('en-US')} of them (each stretch of the run keeps its first, last, lowest and highest `
    + 'values, so spikes show); smoothing runs over those; later lines are drawn as they come.').join(' ');
}

function applySnapshot(headers: DashboardRun[], metrics: SnapshotMetrics[]): void {
  runs = headers.map((header) => new RunData(header));
  const byDir = new Map(runs.map((run) => [run.header.dir, run]));
  for (const entry of metrics) byDir.get(entry.dir)?.add(entry.records);
  showReduced(metrics);
  renderHeader();
  renderCompare();
  knownSpecs = specsKey();
  buildCharts();
  document.body.dataset.lastStep = String(Math.max(0, ...runs.map((run) => run.lastStep)));
  saveState();
}

onHostMessage<HostToDashboard>((message) => {
  const verdict = tracker.accept(message.seq, message.type === 'snapshot');
  if (verdict === 'gap') {
    host.post({ type: 'requestSnapshot', reason: `expected the message after the last one applied, got seq ${message.seq}` });
    return;
  }
  if (verdict === 'skip') return;
  switch (message.type) {
    case 'snapshot':
      applySnapshot(message.runs, message.metrics);
      break;
    case 'append': {
      const run = runs.find((r) => r.header.dir === message.dir);
      run?.add(message.records);
      if (message.records.some((r) => r.kind === 'eval')) renderCompare();
      scheduleRefresh();
      break;
    }
    case 'skipped':
      showSkipped(message.skipped);
      break;
    case 'marker':
      if (message.step !== null) markers.set(message.dir, message.step);
      else markers.delete(message.dir);
      for (const chart of charts) chart.redraw();
      break;
    case 'runs': {
      const headers = message.runs;
      const changesKey = () => JSON.stringify(runs.map((run) => run.header.configChanges ?? []));
      const before = changesKey();
      for (const run of runs) {
        const next = headers.find((h2) => h2.dir === run.header.dir);
        if (next) run.header = next;
      }
      renderHeader();
      if (changesKey() !== before) for (const chart of charts) chart.redraw(); // a resume began a segment
      break;
    }
    default:
      exhaustive(message);
  }
});

function toolbar(): HTMLElement {
  smoothingSlider.addEventListener('input', () => {
    state.smoothing = Math.min(0.99, Math.max(0, Number(smoothingSlider.value)));
    smoothingValue.textContent = state.smoothing.toFixed(2);
    for (const chart of charts) chart.refresh();
    scatter?.draw();
    saveState();
  });
  (xAxisSelect as HTMLElement & { value: string }).value = state.xAxis;
  xAxisSelect.addEventListener('change', () => {
    state.xAxis = (xAxisSelect as HTMLElement & { value: string }).value === 'time' ? 'time' : 'step';
    for (const chart of charts) chart.refresh(true);
    saveState();
  });
  const background = custom('vscode-single-select', { 'aria-label': 'background of exported pictures' }) as HTMLElement & { value: string };
  background.append(custom('vscode-option', { value: 'light' }, 'light'), custom('vscode-option', { value: 'theme' }, 'theme'));
  background.value = state.exportBackground;
  background.addEventListener('change', () => {
    state.exportBackground = background.value === 'theme' ? 'theme' : 'light';
    saveState();
  });
  const outliers = h('input', { attrs: { type: 'checkbox', 'aria-label': 'ignore outliers in chart scaling' } }) as HTMLInputElement;
  outliers.checked = state.ignoreOutliers;
  outliers.addEventListener('change', () => {
    state.ignoreOutliers = outliers.checked;
    for (const chart of charts) chart.refresh(true);
    saveState();
  });
  const resetZoom = custom('vscode-button', { secondary: '' }, 'Reset zoom');
  resetZoom.addEventListener('click', () => charts.forEach((chart) => chart.resetZoom()));
  return h('div', { className: 'toolbar' }, [
    h('label', { className: 'toolbar-item' }, [h('span', { text: 'x axis' }), xAxisSelect]),
    h('label', { className: 'toolbar-item' }, [h('span', { text: 'smoothing' }), smoothingSlider, smoothingValue]),
    h('label', { className: 'toolbar-item' }, [outliers, h('span', { text: 'ignore outliers' })]),
    h('label', { className: 'toolbar-item' }, [h('span', { text: 'PNG background' }), background]),
    resetZoom,
    h('span', { className: 'toolbar-hint', text: 'click a point to see its samples · drag to zoom · double-click to reset · click a legend entry to hide it' }),
  ]);
}

document.body.append(header, compareSection, toolbar(), skippedNotice, reducedNotice, main);
main.append(status);
new ResizeObserver(() => {
  charts.forEach((chart) => chart.resize());
  scatter?.draw();
}).observe(main);
onThemeChange(() => {
  colours = palette();
  headerKey = '';
  renderHeader();
  renderCompare();
  buildCharts();
});
window.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') charts.forEach((chart) => chart.resetZoom());
});
announceReady(() => host.post({ type: 'ready' }), () => tracker.awaitingSnapshot);
