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
