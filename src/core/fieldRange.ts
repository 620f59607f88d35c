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
  const path = fieldPath(field);
  for (let depth = path.length; depth > 0; depth--) {
    const node = findNodeAtLocation(root, path.slice(0, depth));
    if (!node) continue;
    // Point at the key of a property ("betta": …) when the field itself is the unknown one.
    const target: Node = depth === path.length ? node : (keyNode(node.parent) ?? node);
    return { offset: target.offset, length: target.length };
  }
  return { offset: root.offset, length: 1 };
}

function keyNode(property: Node | undefined): Node | undefined {
  return property?.type === 'property' ? property.children?.[0] : undefined;
}

/** The span of a present field's key (`"betta"`, quotes included), for renaming it; undefined when absent. */
export function spanOfKey(text: string, field: string): TextSpan | undefined {
  const root = parseTree(text, [], { allowTrailingComma: true });
  const node = root ? findNodeAtLocation(root, fieldPath(field)) : undefined;
  const key = keyNode(node?.parent);
  return key ? { offset: key.offset, length: key.length } : undefined;
}
