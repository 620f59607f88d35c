/** The side-panel inspector: the sample under focus in a samples panel, compactly. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import type { ScoredText } from '../../contracts/run-directory';
import type { InspectorFocus, InspectorToHost } from '../../contracts/webviews/inspector';
import { clip, custom, h } from '../shared/dom';
import { formatNumber } from '../shared/format';
import { connect, onHostMessage } from '../shared/vscode';

const host = connect<InspectorToHost, null>();
const body = h('div', { className: 'inspector' });
const TEXT_CHARS = 4000;

function block(title: string, sample: ScoredText | undefined): HTMLElement | null {
  if (!sample) return null;
  return h('section', { className: 'inspector-block' }, [
    h('h3', { text: title }),
    h('div', { className: 'cell-stats', text: `reward ${formatNumber(sample.reward)} · log p̂≤ ${formatNumber(sample.log_quantile)} · log π ${formatNumber(sample.logp_policy, 1)}` }),
    h('pre', { className: 'detail-text', text: clip(sample.text, TEXT_CHARS) }),
  ]);
}

function render(focus: InspectorFocus | null): void {
  if (!focus) {
    body.replaceChildren(h('p', { className: 'empty-state', text: 'Select a row in a samples view (BOND: Open Samples) to inspect it here.' }));
    return;
  }
  const { record } = focus;
  const button = (label: string, message: InspectorToHost, disabled: boolean): HTMLElement => {
    const b = custom('vscode-button', disabled ? { secondary: '', disabled: '' } : { secondary: '' }, label);
    b.addEventListener('click', () => host.post(message));
    return b;
  };
  const blocks = [block('Policy', record.policy[0]), block('Anchor', record.anchor[0]),
    block(`Best-of-${record.bon.n} (candidate #${record.bon.winner})`, record.bon.best)].filter((b): b is HTMLElement => b !== null);
  body.replaceChildren(
    h('div', { className: 'inspector-nav' }, [
      button('◀ Previous', { type: 'navigate', delta: -1 }, focus.index <= 0),
      h('span', { className: 'inspector-position', text: `${focus.index + 1} / ${focus.count}` }),
      button('Next ▶', { type: 'navigate', delta: 1 }, focus.index >= focus.count - 1),
    ]),
    h('div', { className: 'cell-meta', text: `${focus.runName} · step ${record.step} · prompt #${record.prompt_id}` }),
    h('pre', { className: 'detail-text prompt-text', text: clip(record.prompt, TEXT_CHARS) }),
    ...blocks,
    button('Open in samples view', { type: 'openInSamples' }, false),
  );
}

onHostMessage((message) => {
  if (message.type === 'focus') render((message.focus as InspectorFocus | null) ?? null);
});
document.body.append(body);
render(null);
host.post({ type: 'ready' });
