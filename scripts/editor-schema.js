// The config schema as the editor shows it: the trainer's schema (contracts/schemas/config.schema.json,
// unchanged for validation) with every field's hover saying its default, its bounds or choices, as a
// markdownDescription next to the description (our own text: Markdown as written). Written by esbuild.js into dist/.
'use strict';

function fmt(value) {
  return '`' + JSON.stringify(value) + '`';
}

function facts(node) {
  const out = [];
  if (Object.prototype.hasOwnProperty.call(node, 'default')) out.push(`default ${fmt(node.default)}`);
  const low = node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : node.minimum !== undefined ? `≥ ${node.minimum}` : null;
  const high = node.exclusiveMaximum !== undefined ? `< ${node.exclusiveMaximum}` : node.maximum !== undefined ? `≤ ${node.maximum}` : null;
  if (low || high) out.push([low, high].filter(Boolean).join(' and '));
  if (Array.isArray(node.enum)) out.push(`one of ${node.enum.map(fmt).join(', ')}`);
  if (node.minItems !== undefined) out.push(`at least ${node.minItems} item${node.minItems === 1 ? '' : 's'}`);
  return out;
}

/** The node of a dotted field ("anchor.kind") in the schema, or undefined. */
function fieldNode(schema, dotted) {
  let node = schema;
  for (const part of dotted.split('.')) node = node && node.properties ? node.properties[part] : undefined;
  return node;
}

/** Moved fields (contracts/schemas/config.moved-fields.json) as deprecated properties: the trainer
 * still reads them, so the editor must not call them unknown; it says where each now belongs. Fields
 * moved for some algorithms only are still fields of their own and stay as they are. */
function withMovedFields(schema, moved) {
  const copy = JSON.parse(JSON.stringify(schema));
  for (const { from, to, algorithms } of moved) {
    if (algorithms) continue;
    const [section, key] = from.split('.');
    const target = fieldNode(copy, to);
    const parent = copy.properties[section];
    if (!target || !parent || !parent.properties || parent.properties[key]) continue;
    const message = `Moved to ${to}: still read as ${to}, with a warning. Move it there.`;
    const { default: _unused, ...shape } = target;
    parent.properties[key] = { ...shape, description: message, deprecationMessage: message };
  }
  return copy;
}

/** A copy of `schema` whose described fields carry their facts in markdownDescription. */
function editorSchema(schema, moved = []) {
  schema = withMovedFields(schema, moved);
  const walk = (node) => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    const copy = {};
    for (const [key, value] of Object.entries(node)) copy[key] = key === 'default' || key === 'enum' || key === 'const' ? value : walk(value);
    if (typeof node.description === 'string' && node.markdownDescription === undefined) {
      const known = facts(node);
      copy.markdownDescription = node.description + (known.length ? `\n\n${known.join(' · ')}` : '');
    }
    return copy;
  };
  return walk(schema);
}

module.exports = { editorSchema, withMovedFields };
