/**
 * Where a config field lives in its file: the trainer reports problems by dotted field
 * ("bond.n", "data.train[0]"); the editor needs character offsets for a Diagnostic.
 */
import { findNodeAtLocation, parseTree, type Node, type Segment } from 'jsonc-parser';

export interface TextSpan {
  offset: number;
  length: number;
}

export function fieldPath(field: string): Segment[] {
  const path: Segment[] = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) path.push(Number(match[2]));
    else if (match[1] !== undefined) path.push(match[1]);
  }
  return path;
}

/**
 * The span of a field's value; for a field that is absent, the span of its nearest present
 * parent's key (or the whole document for the top level), so a Diagnostic always has a place.
 */
export function spanOfField(text: string, field: string): TextSpan {
  const root = parseTree(text, [], { allowTrailingComma: true });
  if (!root) return { offset: 0, length: Math.min(text.length, 1) };
  const { node, complete } = deepest(root, fieldPath(field));
  if (node === root) return { offset: root.offset, length: 1 };
  // Point at the key of a property ("betta": …) when the field itself is the unknown one.
  const target: Node = complete ? node : (keyNode(node.parent) ?? node);
  return { offset: target.offset, length: target.length };
}

/**
 * The deepest node along a path, and whether the whole path was found. A key may itself hold dots
 * (a sweep's "parameters": {"train.lr": …}, reported as parameters.train.lr): at each object the
 * longest run of segments that names one of its keys is taken.
 */
function deepest(root: Node, path: Segment[]): { node: Node; complete: boolean } {
  let node = root;
  let at = 0;
  while (at < path.length) {
    let next: { child: Node; used: number } | undefined;
    if (node.type === 'array' && typeof path[at] === 'number') {
      const child = node.children?.[path[at] as number];
      if (child) next = { child, used: 1 };
    } else if (node.type === 'object') {
      for (let used = path.length - at; used >= 1 && !next; used--) {
        const names = path.slice(at, at + used);
        if (names.some((s) => typeof s !== 'string')) continue;
        const child = findNodeAtLocation(node, [names.join('.')]);
        if (child) next = { child, used };
      }
    }
    if (!next) return { node, complete: false };
    node = next.child;
    at += next.used;
  }
  return { node, complete: true };
}

function keyNode(property: Node | undefined): Node | undefined {
  return property?.type === 'property' ? property.children?.[0] : undefined;
}

/** The span of a present field's key (`"betta"`, quotes included), for renaming it; undefined when absent. */
export function spanOfKey(text: string, field: string): TextSpan | undefined {
  const root = parseTree(text, [], { allowTrailingComma: true });
  const found = root ? deepest(root, fieldPath(field)) : undefined;
  const key = found?.complete ? keyNode(found.node.parent) : undefined;
  return key ? { offset: key.offset, length: key.length } : undefined;
}
