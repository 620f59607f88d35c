/**
 * DOM building without HTML strings: every piece of text goes in through textContent, so model
 * output and user names are always shown literally.
 */

export interface ElementOptions {
  className?: string;
  text?: string;
  title?: string;
  attrs?: Record<string, string>;
  on?: { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, options: ElementOptions = {},
  children: (Node | string | null | undefined)[] = []): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (options.className) element.className = options.className;
  if (options.text !== undefined) element.textContent = options.text;
  if (options.title !== undefined) element.title = options.title;
  for (const [name, value] of Object.entries(options.attrs ?? {})) element.setAttribute(name, value);
  for (const [name, listener] of Object.entries(options.on ?? {})) element.addEventListener(name, listener as EventListener);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    element.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return element;
}

/** A custom element (vscode-elements) with attributes; text still goes in as text. */
export function custom(tag: string, attrs: Record<string, string> = {}, text?: string): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

export function clear(element: Element): void {
  element.replaceChildren();
}

/** Show at most `max` characters of a text; the rest is counted, not rendered. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (+${(text.length - max).toLocaleString()} chars)`;
}

/**
 * Characters that change how text reads without being seen: C0/C1 controls (but tab and newline),
 * bidirectional overrides, embeddings and isolates, zero-width characters and the BOM. In model
 * output they are shown, as VS Code's editor highlights them, and never act on the row around them.
 */
const INVISIBLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

const codePoint = (char: string): string => `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;

/** The text as modelText shows it (each invisible character as ⟦U+XXXX⟧). */
export function visibleText(text: string): string {
  return text.replace(INVISIBLE, (char) => `⟦${codePoint(char)}⟧`);
}

/** Model text as an element: literal text, with each invisible or reordering character shown as a
 * marked code point (⟦U+202E⟧, its name in the tooltip) inside a bidi-isolated element. */
export function modelText<K extends keyof HTMLElementTagNameMap>(tag: K, className: string, text: string,
  highlight = ''): HTMLElementTagNameMap[K] {
  const element = h(tag, { className: `${className} model-text` });
  const needle = highlight.trim();
  const matcher = needle ? new RegExp(needle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi') : undefined;
  // Plain runs of text, with the search's matches marked (as text nodes in <mark>, never markup).
  const plain = (segment: string): void => {
    if (!matcher) {
      element.append(document.createTextNode(segment));
      return;
    }
    let at = 0;
    for (const match of segment.matchAll(matcher)) {
      const index = match.index ?? 0;
      if (index > at) element.append(document.createTextNode(segment.slice(at, index)));
      element.append(h('mark', { className: 'search-match', text: match[0] }));
      at = index + match[0].length;
    }
    if (at < segment.length) element.append(document.createTextNode(segment.slice(at)));
  };
  let last = 0;
  for (const match of text.matchAll(INVISIBLE)) {
    const index = match.index ?? 0;
    if (index > last) plain(text.slice(last, index));
    element.append(h('span', { className: 'invisible-char', text: `⟦${codePoint(match[0])}⟧`, title: `invisible character ${codePoint(match[0])} in the model's text` }));
    last = index + match[0].length;
  }
  if (last < text.length) plain(text.slice(last));
  return element;
}
