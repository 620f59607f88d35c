/** The notice a view shows for lines of a run's file it could not use: never dropped silently. */
import type { SkippedLines } from '../../contracts/webviews/dashboard';
import { custom, h } from './dom';

/** One report per file: "<file>: N lines skipped, first at line L: reason", and a button that opens
 * the file at that line. The reason quotes the file: it goes in as text. */
export function renderSkipped(notice: HTMLElement, reports: SkippedLines[], open: (report: SkippedLines) => void,
  label: (report: SkippedLines) => string = () => ''): void {
  notice.hidden = reports.length === 0;
  notice.replaceChildren(...reports.map((report) => {
    const button = custom('vscode-button', { secondary: '' }, `Open ${report.file} at line ${report.firstLine}`);
    button.addEventListener('click', () => open(report));
    const lines = report.count === 1 ? '1 line' : `${report.count} lines`;
    return h('div', { className: 'skipped-report' }, [
      h('span', { text: `${label(report)}${report.file}: ${lines} skipped, first at line ${report.firstLine}: ${report.reason}` }),
      button,
    ]);
  }));
}
