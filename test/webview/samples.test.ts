/** The samples and inspector bundles in headless Chromium, fed host messages from the shared fixtures. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SampleRecord } from '../../contracts/run-directory';
import type { HostToSamples } from '../../contracts/webviews/samples';
import { toSamplesRun } from '../../src/core/webviewModels';
import { formatNumber } from '../../webview/shared/format';
import { visibleText } from '../../webview/shared/dom';
import { waitFor } from '../helpers';
import { ARTIFACTS, cspViolations, fixtureRun, startHarness, type Harness, type WebviewPage } from './harness';

const completed = fixtureRun('completed');
const run = toSamplesRun('/runs/a', completed.meta, completed.meta.status);

/** Many rows in the fixture's shape: every fixture record repeated over steps with varied rewards. */
function manyRecords(count: number): SampleRecord[] {
  const out: SampleRecord[] = [];
  const base = completed.samples;
  for (let i = 0; i < count; i++) {
    const template = base[i % base.length] as SampleRecord;
    const step = 10 * (1 + Math.floor(i / 8));
    const reward = ((i * 37) % 101) / 50 - 1;
    out.push({
      ...template, step, prompt_id: i % 8, prompt: `${template.prompt} #${i % 8}`,
      policy: template.policy.map((s, k) => ({ ...s, reward: reward + k * 0.01, text: `policy answer ${i}` })),
      bon: { ...template.bon, best: { ...template.bon.best, reward: 0 } },
    });
  }
  return out;
}

const HOSTILE = [
  '<script>window.__canary = "script"</script>',
  '<img src=x onerror="window.__canary = \'img\'">',
  '</textarea><svg onload="window.__canary = \'svg\'">',
  '<a href="javascript:window.__canary = \'link\'">click</a>',
];

describe('samples webview', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => harness?.close());

  async function openWith(snapshot: HostToSamples, options: { theme?: 'dark' | 'light'; state?: unknown } = {}): Promise<WebviewPage> {
    const view = await harness.open('samples', options);
    await view.send(snapshot);
    await view.page.waitForSelector('.rows .sample-row');
    return view;
  }

  it('shows policy, anchor and Best-of-N with the fixture numbers, and all N candidates on expand', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, run, records: completed.samples }, { theme: 'dark' });
    const last = completed.samples.at(-1) as SampleRecord;
    const row = view.page.locator(`.sample-row[data-step="${last.step}"][data-prompt="${last.prompt_id}"]`);
    const text = (await row.textContent()) ?? '';
    // Texts as shown: a random model's control characters appear as ⟦U+XXXX⟧ markers.
    assert.ok(text.includes(visibleText(last.prompt)), 'prompt missing');
    assert.ok(text.includes(visibleText((last.policy[0] as { text: string }).text)), 'policy sample missing');
    assert.ok(text.includes(visibleText((last.anchor[0] as { text: string }).text)), 'anchor sample missing');
    assert.ok(text.includes(visibleText(last.bon.best.text)), 'Best-of-N sample missing');
    assert.ok(text.includes(`r ${formatNumber((last.policy[0] as { reward: number }).reward)}`), 'policy reward missing');
    assert.ok(text.includes(`log p̂≤ ${formatNumber(last.bon.best.log_quantile)}`), 'Best-of-N log-quantile missing');
    assert.ok(text.includes(`#${last.bon.winner} of ${last.bon.n}`), 'Best-of-N winner missing');
    await row.dblclick();
    const details = view.page.locator('.details');
    await details.waitFor();
    assert.equal(await details.locator('.candidates tbody tr').count(), last.bon.candidates.length);
    assert.match(await details.locator('tr.winner').textContent() ?? '', /★ won/);
    const focus = await view.waitForPosted('focus');
    assert.deepEqual(focus.key, { step: last.step, promptId: last.prompt_id });
    assert.deepEqual(await cspViolations(view.page), []);
    assert.deepEqual(view.problems(), []);
    await view.page.screenshot({ path: join(ARTIFACTS, 'samples-dark.png') });
    await view.page.close();
  });

  it('the win/loss cue says it compares the mean of the K policy samples, and the cell shows that mean and K, uncut', async () => {
    const template = completed.samples[0] as SampleRecord;
    const sample = template.policy[0]!;
    // the first sample scores as Best-of-N does, the mean of three does not: the cue must not seem to contradict the cell
    const record: SampleRecord = { ...template, step: 5, prompt_id: 0,
      policy: [{ ...sample, reward: 1 }, { ...sample, reward: 0 }, { ...sample, reward: -1 }],
      bon: { ...template.bon, best: { ...template.bon.best, reward: 1 } } };
    const view = await openWith({ type: 'snapshot', seq: 1, run, records: [record] }, { theme: 'dark' });
    const row = view.page.locator('.sample-row[data-prompt="0"]');
    assert.equal(await row.locator('.cue').textContent(), 'policy mean of 3 loses to BoN by 1.000');
    const summary = row.locator('.cell-summary');
    assert.equal(await summary.textContent(), 'mean r 0.000 over 3 samples (Enter: all of them)');
    const clipped = await summary.evaluate((el) => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1);
    assert.equal(clipped, false, 'the mean is not cut off');
    assert.match(await row.locator('.cell').nth(1).textContent() ?? '', /sample 1: r 1\.000/);
    await view.page.setViewportSize({ width: 600, height: 700 });
    await view.page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))); // laid out at 600 px
    assert.equal(await summary.evaluate((el) => el.scrollWidth > el.clientWidth + 1), false, 'nor at 600 px');
    // at 600 px every column is still there (the rows scroll sideways) and no stats line is cut
    const layout = await row.evaluate((el) => {
      const cells = [...el.querySelectorAll(':scope > .cell')];
      const rows = el.closest('.rows') as HTMLElement;
      return { cells: cells.length, scrollable: rows.scrollWidth > rows.clientWidth,
        lastRight: cells.at(-1)!.getBoundingClientRect().right - el.getBoundingClientRect().left, rowWidth: el.scrollWidth,
        cut: [...el.querySelectorAll('.cell-stats')].some((s) => s.scrollWidth > s.clientWidth + 1) };
    });
    assert.equal(layout.cells, 4, 'prompt, policy, anchor and Best-of-N');
    assert.ok(layout.scrollable && layout.lastRight <= layout.rowWidth + 1, JSON.stringify(layout));
    assert.equal(layout.cut, false, 'stats wrap instead of being cut');
    await view.page.close();
  });

  it('sorts, filters and searches, and follows one prompt across steps', async () => {
    const records = manyRecords(80);
    const view = await openWith({ type: 'snapshot', seq: 1, run, records }, { state: { dir: '/runs/a', step: null, followLatest: false } });
    assert.equal(await view.page.textContent('.row-count'), '80 of 80 rows');
    // sort by gap, descending: the first row has the largest policy − BoN gap
    await view.page.evaluate(() => {
      const select = document.querySelectorAll('vscode-single-select')[0] as HTMLElement & { value: string };
      select.value = 'gap';
      select.dispatchEvent(new Event('change'));
    });
    await view.page.click('vscode-button[aria-label="sort direction"]');
    const best = [...records].sort((a, b) => (b.policy[0] as { reward: number }).reward - (a.policy[0] as { reward: number }).reward)[0] as SampleRecord;
    await view.page.waitForFunction((text) => document.querySelector('.rows .sample-row[aria-rowindex="1"]')?.textContent?.includes(text), visibleText((best.policy[0] as { text: string }).text));
    // filter: only rows where the policy loses to Best-of-N
    await view.page.evaluate(() => {
      const select = document.querySelectorAll('vscode-single-select')[1] as HTMLElement & { value: string };
      select.value = 'loses';
      select.dispatchEvent(new Event('change'));
    });
    const losing = records.filter((r) => (r.policy.reduce((s, p) => s + p.reward, 0) / r.policy.length) < r.bon.best.reward).length;
    await view.page.waitForFunction((n) => document.querySelector('.row-count')?.textContent === `${n} of 80 rows`, losing);
    await view.page.evaluate(() => {
      const select = document.querySelectorAll('vscode-single-select')[1] as HTMLElement & { value: string };
      select.value = 'all';
      select.dispatchEvent(new Event('change'));
    });
    // search text
    await view.page.locator('vscode-textfield input').fill('policy answer 42');
    await view.page.waitForFunction(() => document.querySelector('.row-count')?.textContent === '1 of 80 rows');
    // follow that prompt across steps
    await view.page.locator('.rows .sample-row').first().dblclick();
    await view.page.locator('vscode-textfield input').fill('');
    await view.page.click('.details vscode-button:text("Follow this prompt across steps")');
    await view.page.waitForFunction(() => document.querySelector('.row-count')?.textContent === '10 of 80 rows');
    const steps = await view.page.$$eval('.rows .sample-row', (rows) => rows.map((r) => Number(r.getAttribute('data-step'))));
    assert.deepEqual(steps, [...steps].sort((a, b) => a - b), 'a followed prompt reads in step order');
    assert.equal(((await view.state()) as { promptId: number }).promptId, 42 % 8);
    await view.page.close();
  });

  it('search looks in what a row shows and marks it; a match past the cut is said, one only in hidden samples is not a match', async () => {
    const template = completed.samples[0] as SampleRecord;
    const long = `${'x '.repeat(400)}the loved ending`;
    const records: SampleRecord[] = [
      { ...template, step: 10, prompt_id: 0, prompt: 'a film I loved', policy: template.policy.map((p) => ({ ...p, text: 'plain' })) },
      // "loved" only in the policy's second sample and the candidates: not shown in the row, so not a match
      { ...template, step: 10, prompt_id: 1, prompt: 'another film',
        policy: [{ ...template.policy[0]!, text: 'plain' }, { ...template.policy[0]!, text: 'loved it' }],
        anchor: template.anchor.map((a) => ({ ...a, text: 'plain' })), bon: { ...template.bon, best: { ...template.bon.best, text: 'plain' },
          candidates: template.bon.candidates.map((c) => ({ ...c, text: 'they loved it' })) } },
      { ...template, step: 10, prompt_id: 2, prompt: 'a third', policy: template.policy.map((p) => ({ ...p, text: long })) },
    ];
    const view = await openWith({ type: 'snapshot', seq: 1, run, records }, { state: { dir: '/runs/a', step: 10, followLatest: false } });
    await view.page.locator('vscode-textfield input').fill('LOVED');
    await view.page.waitForFunction(() => document.querySelector('.row-count')?.textContent === '2 of 3 rows');
    const marks = await view.page.$$eval('.sample-row[data-prompt="0"] mark.search-match', (m) => m.map((e) => e.textContent));
    assert.deepEqual(marks, ['loved'], 'the match is marked as the text has it');
    assert.equal(await view.page.$('.sample-row[data-prompt="1"]'), null);
    assert.match(await view.page.textContent('.sample-row[data-prompt="2"]') ?? '', /the match is further in the text/);
    await view.page.locator('vscode-textfield input').fill('');
    await view.page.waitForFunction(() => document.querySelector('.row-count')?.textContent === '3 of 3 rows');
    assert.equal(await view.page.$('mark.search-match'), null, 'no search, no marks');
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });

  it('following the latest step waits while a row is being read, says a newer step is there, and catches up when done', async () => {
    const records = manyRecords(24); // steps 10, 20, 30
    const view = await openWith({ type: 'snapshot', seq: 1, run, records: records.slice(0, 16) }, { state: { dir: '/runs/a', step: 20, followLatest: true } });
    const shownStep = async () => ((await view.state()) as { step: number | null }).step;
    await view.page.locator('.sample-row[data-prompt="3"]').dblclick();
    await view.page.waitForSelector('.details:not([hidden])');
    await view.send({ type: 'append', seq: 2, records: records.slice(16) });
    await view.page.waitForSelector('.newer-step:not([hidden])');
    assert.match(await view.page.textContent('.newer-step') ?? '', /step 30 is newer/);
    assert.equal(await shownStep(), 20, 'the row being read stays');
    assert.ok(await view.page.$('.details:not([hidden])'), 'and so do its details');
    await view.page.keyboard.press('Escape');
    await view.page.waitForFunction(() => document.querySelector('.newer-step')?.hasAttribute('hidden'));
    await waitFor(async () => (await shownStep()) === 30 || undefined, 'the view to catch up with step 30');
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });

  it('Enter opens a row\'s details, brings them into view and moves the keyboard there; Escape comes back to the row', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, run, records: manyRecords(16) }, { state: { dir: '/runs/a', step: 10, followLatest: false } });
    await view.page.setViewportSize({ width: 1000, height: 500 }); // the details open below the fold
    await view.page.focus('.rows');
    await view.page.keyboard.press('ArrowDown');
    await view.page.keyboard.press('ArrowDown');
    await view.page.keyboard.press('Enter');
    await view.page.waitForSelector('.details:not([hidden])');
    await waitFor(() => view.page.evaluate(() => document.activeElement?.closest('.details') !== null || undefined), 'the focus to move into the details');
    const inView = await view.page.evaluate(() => {
      const head = document.querySelector('.details h2')!.getBoundingClientRect();
      return head.top >= 0 && head.bottom <= window.innerHeight;
    });
    assert.ok(inView, 'the details heading is scrolled into view');
    await view.page.keyboard.press('Escape');
    await view.page.waitForSelector('.details[hidden]', { state: 'attached' });
    assert.ok(await view.page.evaluate(() => document.activeElement?.classList.contains('rows')), 'the keyboard is back on the rows');
    assert.equal(await view.page.getAttribute('.sample-row.focused', 'data-prompt'), '1', 'on the row it left');
    await view.page.close();
  });

  it('virtualises 100,000 rows: few DOM rows, scrolling and search stay fast', async () => {
    // Built in the page from the fixture's first record: shipping 100,000 records through the
    // test driver would measure the driver, not the view.
    const view = await harness.open('samples', { state: { dir: '/runs/a', step: null, followLatest: false } });
    await view.page.evaluate(({ template, run: header }) => {
      const records = [];
      for (let i = 0; i < 100_000; i++) {
        records.push({ ...template, step: 10 * (1 + Math.floor(i / 8)), prompt_id: i % 8,
          policy: template.policy.map((s) => ({ ...s, reward: ((i * 37) % 101) / 50 - 1, text: `policy answer ${i}` })) });
      }
      window.postMessage({ type: 'snapshot', seq: 1, run: header, records }, '*');
    }, { template: completed.samples[0] as SampleRecord, run });
    await view.page.waitForSelector('.rows .sample-row', { timeout: 60_000 });
    assert.equal(await view.page.textContent('.row-count'), '100,000 of 100,000 rows');
    const domRows = await view.page.$$eval('.rows .sample-row', (rows) => rows.length);
    assert.ok(domRows < 40, `${domRows} rows in the DOM`);
    await view.page.$eval('.rows', (el) => {
      el.scrollTop = el.scrollHeight / 2;
    });
    await view.page.waitForFunction(() => Number(document.querySelector('.rows .sample-row')?.getAttribute('aria-rowindex')) > 40_000);
    await view.page.locator('vscode-textfield input').fill('policy answer 99999');
    await view.page.waitForFunction(() => document.querySelector('.row-count')?.textContent === '1 of 100,000 rows', undefined, { timeout: 10_000 });
    await view.page.close();
  });

  it('steps through snapshots with follow-latest, applies appends in order and restores its state', async () => {
    const records = manyRecords(32); // steps 10, 20, 30, 40
    const view = await openWith({ type: 'snapshot', seq: 1, run, records: records.slice(0, 24) });
    assert.match(await view.page.textContent('.step-label') ?? '', /step 30 \(3 of 3\)/);
    await view.send({ type: 'append', seq: 2, records: records.slice(24) });
    await view.page.waitForFunction(() => /step 40 \(4 of 4\)/.test(document.querySelector('.step-label')?.textContent ?? ''));
    await view.page.click('vscode-button[aria-label="previous step"]');
    assert.match(await view.page.textContent('.step-label') ?? '', /step 30/);
    await view.page.locator('.rows .sample-row').nth(2).click();
    const saved = await view.state();
    assert.equal((saved as { step: number }).step, 30);
    assert.equal((saved as { followLatest: boolean }).followLatest, false);
    await view.page.close();
    const restored = await openWith({ type: 'snapshot', seq: 1, run, records }, { state: saved, theme: 'light' });
    assert.match(await restored.page.textContent('.step-label') ?? '', /step 30/);
    assert.equal(await restored.page.$$eval('.sample-row.focused', (rows) => rows.length), 1);
    await restored.page.screenshot({ path: join(ARTIFACTS, 'samples-light.png') });
    await restored.page.close();
  });

  it('a dashboard click shows the nearest snapshot, and the step shown is reported for the charts\' marker', async () => {
    const records = manyRecords(32); // steps 10, 20, 30, 40
    const view = await openWith({ type: 'snapshot', seq: 1, run, records });
    await waitFor(async () => (await view.posted()).find((m) => m.type === 'stepShown' && m.step === 40), 'the latest step reported');
    await view.send({ type: 'showStep', seq: 2, step: 27 });
    await view.page.waitForFunction(() => /step 30 \(3 of 4\)/.test(document.querySelector('.step-label')?.textContent ?? ''));
    await waitFor(async () => (await view.posted()).find((m) => m.type === 'stepShown' && m.step === 30), 'step 30 reported');
    assert.equal((await view.state() as { followLatest: boolean }).followLatest, false, 'a chosen step stops following the latest');
    await view.page.click('vscode-button[aria-label="previous step"]');
    await waitFor(async () => (await view.posted()).find((m) => m.type === 'stepShown' && m.step === 20), 'step 20 reported');
    await view.page.click('vscode-checkbox[label="all steps"]');
    await waitFor(async () => (await view.posted()).at(-1)?.step === null || undefined, 'all steps: no single step reported');
    // A step asked for before any samples arrive is shown once they do.
    const early = await harness.open('samples', {});
    await early.send({ type: 'snapshot', seq: 1, run, records: [] });
    await early.send({ type: 'showStep', seq: 2, step: 12 });
    await early.send({ type: 'append', seq: 3, records });
    await early.page.waitForFunction(() => /step 10 \(1 of 4\)/.test(document.querySelector('.step-label')?.textContent ?? ''));
    await early.page.close();
    await view.page.close();
  });

  it('says which samples.jsonl lines it skipped and opens the file at the first', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, run, records: completed.samples });
    await view.send({ type: 'skipped', seq: 2, skipped: [{ dir: '/runs/a', file: 'samples.jsonl', count: 1, firstLine: 7,
      reason: 'does not match the schema: /policy must be array' }] });
    await view.page.waitForSelector('.skipped-lines:not([hidden])');
    assert.match(await view.page.textContent('.skipped-lines') ?? '', /samples\.jsonl: 1 line skipped, first at line 7: does not match the schema: \/policy must be array/);
    await view.page.click('.skipped-lines vscode-button');
    assert.deepEqual(await view.waitForPosted('openSamplesFile'), { type: 'openSamplesFile', line: 7 });
    assert.ok(await view.page.$('.rows .sample-row'), 'the readable rows are still shown');
    await view.page.close();
  });

  it('shows control, bidi-override and zero-width characters visibly, isolated from the row around them', async () => {
    const template = completed.samples[0] as SampleRecord;
    const tricky = 'safe\u202Eevil\u200Bhidden\u0007bell\u2066iso';
    const record: SampleRecord = { ...template, step: 100, prompt_id: 0, prompt: 'plain prompt',
      policy: template.policy.map((sample) => ({ ...sample, text: tricky })) };
    const view = await openWith({ type: 'snapshot', seq: 1, run, records: [record] });
    const cell = view.page.locator('.sample-row[data-prompt="0"] .cell-text.model-text').nth(1);
    const text = await cell.textContent() ?? '';
    assert.equal(text, 'safe⟦U+202E⟧evil⟦U+200B⟧hidden⟦U+0007⟧bell⟦U+2066⟧iso');
    assert.equal(await cell.locator('.invisible-char').count(), 4);
    assert.equal(await cell.evaluate((node) => getComputedStyle(node).unicodeBidi), 'isolate');
    // No raw override reaches the page: nothing can reorder the row.
    assert.equal(await view.page.evaluate(() => /[\u202A-\u202E\u2066-\u2069\u200B]/.test(document.querySelector('.rows')?.textContent ?? '')), false);
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });

  it('renders hostile prompts and samples as literal text; the canary stays unset', async () => {
    const template = completed.samples[0] as SampleRecord;
    const huge = 'x'.repeat(1024 * 1024);
    const records: SampleRecord[] = [...HOSTILE, huge].map((payload, i) => ({
      ...template, step: 100, prompt_id: i, prompt: payload,
      policy: template.policy.map((s) => ({ ...s, text: payload })),
      anchor: template.anchor.map((s) => ({ ...s, text: payload })),
      bon: { ...template.bon, best: { ...template.bon.best, text: payload }, candidates: template.bon.candidates.map((c) => ({ ...c, text: payload })) },
    }));
    const view = await openWith({ type: 'snapshot', seq: 1, run: { ...run, name: '<img src=x onerror="window.__canary=\'name\'">' }, records });
    for (let i = 0; i < HOSTILE.length; i++) {
      const row = view.page.locator(`.sample-row[data-prompt="${i}"]`);
      assert.ok((await row.textContent())?.includes(HOSTILE[i] as string), `payload ${i} not shown literally`);
      await row.dblclick();
      await view.page.waitForSelector('.details:not([hidden])');
    }
    await view.page.locator('.sample-row[data-prompt="4"]').dblclick();
    await view.page.waitForFunction(() => document.querySelector('.details .prompt-text')?.textContent?.length === 1024 * 1024);
    assert.equal(await view.page.$$eval('.rows img, .rows script, .rows svg, .rows a, .details img, .details svg, .details a', (n) => n.length), 0);
    await view.page.waitForTimeout(200);
    assert.equal(await view.page.evaluate(() => (window as unknown as { __canary?: unknown }).__canary), undefined);
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });
});

describe('inspector webview', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => harness?.close());

  it('shows the focused sample compactly, posts navigation, and keeps hostile text literal', async () => {
    const view = await harness.open('inspector');
    assert.match(await view.page.textContent('body') ?? '', /Select a row/);
    const record = { ...(completed.samples[0] as SampleRecord), prompt: HOSTILE[1] as string };
    await view.send({ type: 'focus', seq: 1, focus: { dir: '/runs/a', runName: HOSTILE[0], bonN: 4, record, index: 0, count: 3 } });
    await view.page.waitForSelector('.inspector-nav');
    const body = await view.page.textContent('body') ?? '';
    assert.ok(body.includes(HOSTILE[1] as string) && body.includes(HOSTILE[0] as string));
    assert.match(body, /1 \/ 3/);
    await view.page.click('vscode-button:text("Next ▶")');
    await view.page.click('vscode-button:text("Open in samples view")');
    await waitFor(async () => (await view.posted()).some((m) => m.type === 'openInSamples') || undefined, 'openInSamples');
    const posted = (await view.posted()).map((m) => (m.type === 'navigate' ? `navigate ${String(m.delta)}` : m.type));
    assert.deepEqual(posted, ['ready', 'navigate 1', 'openInSamples']);
    assert.equal(await view.page.evaluate(() => (window as unknown as { __canary?: unknown }).__canary), undefined);
    assert.deepEqual(await cspViolations(view.page), []);
    await view.page.close();
  });

  it('the launcher opens the playground tab with its prompt, or with the sample under focus\'s', async () => {
    const view = await harness.open('inspector');
    await view.page.click('vscode-button:text("Open Playground")');
    await view.page.locator('vscode-textarea[aria-label="playground prompt"] textarea').fill('the soup was');
    await view.page.click('vscode-button:text("Open Playground")');
    await waitFor(async () => (await view.posted()).filter((m) => m.type === 'openPlayground').length === 2 || undefined, 'two openPlayground');
    assert.deepEqual((await view.posted()).filter((m) => m.type === 'openPlayground').map((m) => m.prompt), [null, 'the soup was']);
    assert.deepEqual(await cspViolations(view.page), []);
    await view.page.close();
  });

});
