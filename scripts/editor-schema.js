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

/** A copy of `schema` whose described fields carry their facts in markdownDescription. */
function editorSchema(schema) {
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

module.exports = { editorSchema };
