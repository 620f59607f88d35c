/**
 * The experiments table: every run, one row each — label, status, algorithm, sweep, the config fields
 * that vary across the runs shown, the last evaluation's reward, KL, effective N and win rate,
 * duration and start — sortable, filtered by text, status and sweep, grouped by sweep, with a column
 * chooser. Rows are virtualised (only those in view are in the DOM), so 10,000 runs scroll smoothly.
 * Selected rows get the colours Compare gives them (in the order they were picked).
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import { differingFields } from '../../contracts/config-fields';
import { SequenceTracker } from '../../contracts/webviews/guards';
import {
  parseExperimentsState, type ExperimentRow, type ExperimentsState, type ExperimentsToHost, type HostToExperiments,
} from '../../contracts/webviews/experiments';
import { custom, h } from '../shared/dom';
import { formatDuration, formatNumber } from '../shared/format';
import { onThemeChange, palette } from '../shared/theme';
import { announceReady, connect, exhaustive, onHostMessage } from '../shared/vscode';

const ROW_HEIGHT = 24;
const OVERSCAN = 10;

const host = connect<ExperimentsToHost, ExperimentsState>();
const tracker = new SequenceTracker();
let state = parseExperimentsState(host.savedState());
const rows = new Map<string, ExperimentRow>();
let allFields: string[] = [];
/** picked rows, in the order picked: Compare's order and colours */
let selected: string[] = [];
const collapsed = new Set<string>();
let colours = palette();

interface Column { key: string; label: string; width: number; value(row: ExperimentRow): string | number | null; text(row: ExperimentRow): string }

const fixedColumns: Column[] = [
  { key: 'label', label: 'run', width: 260, value: (r) => r.label, text: (r) => r.label },
  { key: 'status', label: 'status', width: 100, value: (r) => r.status, text: (r) => (r.status === 'running' || r.status === 'starting' ? `${r.status} ${r.step}/${r.totalSteps}` : r.status) },
  { key: 'algorithm', label: 'algorithm', width: 90, value: (r) => r.algorithm, text: (r) => r.algorithm },
  { key: 'sweep', label: 'sweep', width: 150, value: (r) => r.sweep, text: (r) => (r.sweep ? `${r.sweep}${r.trial !== null ? ` t${r.trial}` : ''}${r.seed !== null ? ` s${r.seed}` : ''}` : '') },
];
const number = (key: keyof ExperimentRow, label: string): Column => ({
  key, label, width: 90, value: (r) => r[key] as number | null, text: (r) => (r[key] === null ? '—' : formatNumber(r[key] as number)),
});
const resultColumns: Column[] = [
  number('reward', 'reward'), number('kl', 'KL(π‖π_ref)'), number('effectiveN', 'effective N'), number('winRate', 'win rate'),
  { key: 'durationS', label: 'duration', width: 80, value: (r) => r.durationS, text: (r) => formatDuration(r.durationS) },
  { key: 'startedAt', label: 'started', width: 140, value: (r) => r.startedAt, text: (r) => new Date(r.startedAt).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' }) },
];
const fieldColumn = (field: string): Column => ({
  key: `config:${field}`, label: field, width: Math.min(180, Math.max(90, field.length * 7 + 16)),
  value: (r) => {
    const raw = r.config[field];
    if (raw === undefined) return null;
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw;
  },
  text: (r) => (r.config[field] === undefined ? '—' : r.config[field]!.replace(/^"|"$/g, '')),
});

// ---- the page ----
const filter = h('input', { className: 'exp-filter', attrs: { type: 'search', placeholder: 'filter: name, algorithm, tag, field value…', 'aria-label': 'filter' } });
filter.value = state.filter;
const statusSelect = h('select', { className: 'select', attrs: { 'aria-label': 'status' } });
const sweepSelect = h('select', { className: 'select', attrs: { 'aria-label': 'sweep' } });
const group = h('input', { attrs: { type: 'checkbox', 'aria-label': 'group by sweep' } });
group.checked = state.groupBySweep;
const chooser = h('details', { className: 'column-chooser' }, [h('summary', { text: 'Columns' })]);
const chooserList = h('div', { className: 'column-list' });
chooser.append(chooserList);
const count = h('span', { className: 'exp-count muted', attrs: { 'aria-live': 'polite' } });
const compare = custom('vscode-button', {}, 'Compare');
const clearSelection = custom('vscode-button', { secondary: '' }, 'Clear selection');
const head = h('div', { className: 'exp-head', attrs: { role: 'row' } });
const body = h('div', { className: 'exp-body', attrs: { role: 'rowgroup' } });
const viewport = h('div', { className: 'exp-viewport', attrs: { role: 'grid', 'aria-label': 'runs' } }, [head, body]);
const empty = h('div', { className: 'empty-state', text: 'Waiting for the runs…' });
document.body.append(h('div', { className: 'experiments' }, [
  h('div', { className: 'exp-toolbar' }, [filter, statusSelect, sweepSelect, h('label', { className: 'check' }, [group, 'group by sweep']), chooser, count, compare, clearSelection]),
  empty, viewport,
]));

const save = (): void => host.saveState(state);
/** A control that changes the saved state: kept across reloads, and the table drawn again. */
function bind(element: HTMLElement, event: 'input' | 'change', change: () => Partial<ExperimentsState>): void {
  element.addEventListener(event, () => {
    state = { ...state, ...change() };
    save();
    schedule();
  });
}
bind(filter, 'input', () => ({ filter: filter.value }));
bind(statusSelect, 'change', () => ({ status: statusSelect.value }));
bind(sweepSelect, 'change', () => ({ sweep: sweepSelect.value }));
bind(group, 'change', () => ({ groupBySweep: group.checked }));
compare.addEventListener('click', () => {
  if (selected.length >= 2) host.post({ type: 'compare', dirs: selected.slice(0, 32) });
});
clearSelection.addEventListener('click', () => {
  selected = [];
  schedule();
});

// ---- what is shown: filtered, sorted, grouped ----
type Item = { kind: 'row'; row: ExperimentRow } | { kind: 'group'; sweep: string; rows: ExperimentRow[] };
let items: Item[] = [];
let columns: Column[] = [];

function matches(row: ExperimentRow, words: string[]): boolean {
  if (state.status && row.status !== state.status) return false;
  if (state.sweep === '—' ? row.sweep !== null : state.sweep && row.sweep !== state.sweep) return false;
  if (!words.length) return true;
  const haystack = [row.label, row.status, row.algorithm, row.sweep ?? '', ...row.tags.map((t) => `#${t}`),
    ...Object.entries(row.config).map(([k, v]) => `${k}=${v.replace(/^"|"$/g, '')}`)].join(' ').toLowerCase();
  return words.every((word) => haystack.includes(word));
}

function compareValues(a: string | number | null, b: string | number | null): number {
  if (a === null || b === null) return a === null ? (b === null ? 0 : 1) : -1;
  return typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b));
}

function derive(): void {
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = [...rows.values()].filter((row) => matches(row, words));
  const fields = differingFields(shown.map((row) => row.config)).filter((f) => allFields.includes(f));
  const all = [...fixedColumns, ...fields.map(fieldColumn), ...resultColumns];
  columns = all.filter((c) => c.key === 'label' || !state.hiddenColumns.includes(c.key));
  renderChooser(all);
  const sortColumn = all.find((c) => c.key === state.sort.column) ?? resultColumns.find((c) => c.key === 'startedAt')!;
  const sign = state.sort.descending ? -1 : 1;
  shown.sort((a, b) => {
    const x = sortColumn.value(a);
    const y = sortColumn.value(b);
    if (x === null || y === null) return compareValues(x, y); // blanks last either way
    return sign * compareValues(x, y) || a.dir.localeCompare(b.dir);
  });
  items = [];
  if (state.groupBySweep) {
    const bySweep = new Map<string, ExperimentRow[]>();
    for (const row of shown) {
      if (row.sweep === null) continue;
      const list = bySweep.get(row.sweep) ?? [];
      list.push(row);
      bySweep.set(row.sweep, list);
    }
    const placed = new Set<string>();
    for (const row of shown) {
      if (row.sweep === null) items.push({ kind: 'row', row });
      else if (!placed.has(row.sweep)) {
        placed.add(row.sweep);
        const members = bySweep.get(row.sweep)!;
        items.push({ kind: 'group', sweep: row.sweep, rows: members });
        if (!collapsed.has(row.sweep)) for (const member of members) items.push({ kind: 'row', row: member });
      }
    }
  } else {
    items = shown.map((row) => ({ kind: 'row', row }));
  }
  count.textContent = `${shown.length === rows.size ? '' : `${shown.length} of `}${rows.size} run${rows.size === 1 ? '' : 's'}${selected.length ? ` · ${selected.length} selected` : ''}`;
  compare.toggleAttribute('disabled', selected.length < 2);
  empty.hidden = rows.size > 0;
  empty.textContent = tracker.awaitingSnapshot ? 'Waiting for the runs…' : 'No runs yet: start one, and it is listed here.';
  renderFilters();
  renderHead();
}

function renderFilters(): void {
  const statuses = [...new Set([...rows.values()].map((r) => r.status))].sort();
  const sweeps = [...new Set([...rows.values()].map((r) => r.sweep).filter((s): s is string => s !== null))].sort();
  const fill = (select: HTMLSelectElement, options: [string, string][], value: string): void => {
    const key = options.map((o) => o[0]).join('\n');
    if (select.dataset.options !== key) {
      select.replaceChildren(...options.map(([v, label]) => h('option', { text: label, attrs: { value: v } })));
      select.dataset.options = key;
    }
    select.value = options.some((o) => o[0] === value) ? value : '';
  };
  fill(statusSelect, [['', 'any status'], ...statuses.map((s): [string, string] => [s, s])], state.status);
  fill(sweepSelect, [['', 'any sweep'], ['—', 'no sweep'], ...sweeps.map((s): [string, string] => [s, s])], state.sweep);
}

function renderChooser(all: Column[]): void {
  const key = all.map((c) => c.key).join('\n') + state.hiddenColumns.join('\n');
  if (chooserList.dataset.key === key) return;
  chooserList.dataset.key = key;
  chooserList.replaceChildren(...all.filter((c) => c.key !== 'label').map((column) => {
    const box = h('input', { attrs: { type: 'checkbox', 'data-column': column.key } });
    box.checked = !state.hiddenColumns.includes(column.key);
    box.addEventListener('change', () => {
      state = { ...state, hiddenColumns: box.checked ? state.hiddenColumns.filter((k) => k !== column.key) : [...state.hiddenColumns, column.key] };
      save();
      schedule();
    });
    return h('label', { className: 'check' }, [box, column.label]);
  }));
}

const SELECT_WIDTH = 28;
const totalWidth = (): number => SELECT_WIDTH + columns.reduce((sum, c) => sum + c.width, 0);

function template(): string {
  return [`${SELECT_WIDTH}px`, ...columns.map((c) => `${c.width}px`)].join(' ');
}

function renderHead(): void {
  head.style.gridTemplateColumns = template();
  head.style.width = `${totalWidth()}px`;
  head.replaceChildren(h('span', { className: 'exp-cell' }), ...columns.map((column) => {
    const sorted = state.sort.column === column.key;
    const numeric = column.key.startsWith('config:') || resultColumns.includes(column);
    return h('span', { className: `exp-cell${numeric ? ' num' : ''}`, attrs: { role: 'columnheader', 'data-column': column.key, 'aria-sort': sorted ? (state.sort.descending ? 'descending' : 'ascending') : 'none' } }, [
      h('button', { className: 'link-button sort-button', text: `${column.label}${sorted ? (state.sort.descending ? ' ▼' : ' ▲') : ''}`, title: column.label, on: { click: () => {
        state = { ...state, sort: { column: column.key, descending: sorted ? !state.sort.descending : column.key === 'reward' || column.key === 'startedAt' } };
        save();
        schedule();
      } } }),
    ]);
  }));
  body.style.height = `${items.length * ROW_HEIGHT}px`;
  body.style.width = `${totalWidth()}px`;
  renderRows();
}

function toggle(dir: string): void {
  selected = selected.includes(dir) ? selected.filter((d) => d !== dir) : [...selected, dir];
  schedule();
}

function rowElement(item: Item, index: number): HTMLElement {
  if (item.kind === 'group') {
    const done = item.rows.filter((r) => r.status === 'completed').length;
    const running = item.rows.filter((r) => r.status === 'running' || r.status === 'starting').length;
    const element = h('div', { className: 'exp-row exp-group', attrs: { role: 'row', 'data-sweep': item.sweep } }, [
      h('button', { className: 'link-button', text: `${collapsed.has(item.sweep) ? '▸' : '▾'} sweep ${item.sweep} · ${item.rows.length} runs · ${done} done${running ? ` · ${running} running` : ''}`,
        on: { click: () => {
          if (collapsed.has(item.sweep)) collapsed.delete(item.sweep);
          else collapsed.add(item.sweep);
          schedule();
        } } }),
    ]);
    element.style.top = `${index * ROW_HEIGHT}px`;
    element.style.width = `${totalWidth()}px`;
    return element;
  }
  const { row } = item;
  const pick = selected.indexOf(row.dir);
  const box = h('input', { attrs: { type: 'checkbox', 'aria-label': `select ${row.label}` } });
  box.checked = pick >= 0;
  box.addEventListener('change', () => toggle(row.dir));
  const swatch = h('span', { className: 'swatch' });
  if (pick >= 0) swatch.style.background = colours[pick % colours.length] ?? '#888';
  const cells = columns.map((column) => {
    if (column.key === 'label') {
      return h('span', { className: 'exp-cell label', title: row.problem ? `${row.dir}\n⚠ ${row.problem}` : row.dir }, [
        swatch, h('button', { className: 'link-button', text: `${row.problem ? '⚠ ' : ''}${row.label}`, on: { click: () => host.post({ type: 'openDashboard', dir: row.dir }) } }),
      ]);
    }
    return h('span', { className: `exp-cell${column.key.startsWith('config:') || resultColumns.includes(column) ? ' num' : ''}`, text: column.text(row) });
  });
  const element = h('div', { className: `exp-row${pick >= 0 ? ' selected' : ''}`, attrs: { role: 'row', 'data-dir': row.dir, 'data-status': row.status } },
    [h('span', { className: 'exp-cell' }, [box]), ...cells]);
  element.style.top = `${index * ROW_HEIGHT}px`;
  element.style.gridTemplateColumns = template();
  element.style.width = `${totalWidth()}px`;
  return element;
}

/** Only the rows in view (and a few either side) are in the DOM. */
function renderRows(): void {
  const headHeight = head.offsetHeight || ROW_HEIGHT;
  const top = Math.max(0, viewport.scrollTop - headHeight);
  const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((top + viewport.clientHeight) / ROW_HEIGHT) + OVERSCAN);
  const elements: HTMLElement[] = [];
  for (let i = first; i < last; i++) elements.push(rowElement(items[i]!, i));
  body.replaceChildren(...elements);
  body.dataset.first = String(first);
  body.dataset.items = String(items.length);
  document.body.dataset.updates = String(Number(document.body.dataset.updates ?? '0') + 1);
}

let frame = 0;
function schedule(): void {
  cancelAnimationFrame(frame);
  frame = requestAnimationFrame(derive);
}
let scrollFrame = 0;
viewport.addEventListener('scroll', () => {
  cancelAnimationFrame(scrollFrame);
  scrollFrame = requestAnimationFrame(renderRows);
});
new ResizeObserver(() => {
  cancelAnimationFrame(scrollFrame);
  scrollFrame = requestAnimationFrame(renderRows);
}).observe(viewport);
onThemeChange(() => {
  colours = palette();
  schedule();
});

onHostMessage<HostToExperiments>((message) => {
  const verdict = tracker.accept(message.seq, message.type === 'snapshot');
  if (verdict === 'gap') host.post({ type: 'requestSnapshot', reason: `message ${message.seq} out of order` });
  if (verdict !== 'apply') return;
  switch (message.type) {
    case 'snapshot':
      rows.clear();
      for (const row of message.rows) rows.set(row.dir, row);
      allFields = message.fields;
      selected = selected.filter((dir) => rows.has(dir));
      break;
    case 'upsert':
      for (const row of message.rows) rows.set(row.dir, row);
      break;
    case 'remove':
      for (const dir of message.dirs) rows.delete(dir);
      selected = selected.filter((dir) => rows.has(dir));
      break;
    default:
      exhaustive(message);
  }
  schedule();
});

announceReady(() => host.post({ type: 'ready' }), () => tracker.awaitingSnapshot);
