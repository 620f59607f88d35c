/**
 * The BOND side panel: the sample under focus in a samples panel, and a launcher of the playground
 * editor tab (webview/playground).
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import type { ScoredText } from '../../contracts/run-directory';
import type { HostToInspector, InspectorFocus, InspectorToHost } from '../../contracts/webviews/inspector';
import { PLAYGROUND_LIMITS } from '../../contracts/webviews/playground';
import { clip, custom, h, modelText } from '../shared/dom';
import { formatNumber } from '../shared/format';
import { connect, onHostMessage } from '../shared/vscode';

const host = connect<InspectorToHost, null>();
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

// ---- playground launcher ----
const launcherPrompt = custom('vscode-textarea', { rows: '2', 'aria-label': 'playground prompt', placeholder: 'a prompt (empty: the sample under focus\'s)' }) as ValueElement;
const launch = custom('vscode-button', {}, 'Open Playground');
launch.addEventListener('click', () => {
  const prompt = launcherPrompt.value.slice(0, PLAYGROUND_LIMITS.promptChars[1]);
  host.post({ type: 'openPlayground', prompt: prompt.length ? prompt : null });
});

onHostMessage<HostToInspector>((message) => {
  if (message.type === 'focus') renderFocus(message.focus);
});

document.body.append(
  h('h2', { text: 'Sample' }), inspector,
  h('h2', { text: 'Playground' }),
  h('section', { className: 'playground-launcher', attrs: { 'aria-label': 'playground launcher' } }, [
    h('p', { className: 'cell-meta', text: 'Try prompts on a run\'s exported policy and anchor, with every Best-of-N candidate ranked, in an editor tab.' }),
    launcherPrompt, launch,
  ]),
);
renderFocus(null);
host.post({ type: 'ready' });
