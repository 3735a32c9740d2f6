/**
 * docs/operations.md's Configuration section is where an integrator looks up a key (the README
 * sends them there "for every key and default"). This keeps it in step with the one schema: a key
 * added to config/schema.ts without a word in that section fails here, as an error code without
 * its row in docs/errors.md fails core/errors.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../core/package-info.js';
import { postConfigJsonSchema } from './json-schema.js';

interface JsonSchemaNode {
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  allOf?: JsonSchemaNode[];
}

/** Every property name anywhere in the schema: sections, each driver's settings, nested objects. */
function keysOf(node: JsonSchemaNode, into = new Set<string>()): Set<string> {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    into.add(key);
    keysOf(child, into);
  }
  for (const child of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? []), ...(node.items ? [node.items] : [])]) keysOf(child, into);
  return into;
}

/** The words inside `code spans` of the Configuration section (up to the next `## ` heading). */
function documentedWords(): Set<string> {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'operations.md'), 'utf8');
  const start = doc.indexOf('\n## Configuration\n');
  expect(start, 'docs/operations.md has a "## Configuration" section').toBeGreaterThan(0);
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const words = new Set<string>();
  for (const [, span] of section.matchAll(/`([^`]+)`/g)) for (const word of (span as string).split(/[^A-Za-z0-9]+/)) if (word) words.add(word);
  return words;
}

describe('docs/operations.md, Configuration', () => {
  it('names every key of the configuration schema', () => {
    const keys = keysOf(JSON.parse(postConfigJsonSchema()) as JsonSchemaNode);
    // The walk reaches into the drivers' settings (it would pass vacuously on an empty set).
    expect(keys).toContain('subscriptionSec');
    expect(keys).toContain('rescanMs');
    const words = documentedWords();
    expect([...keys].filter((key) => !words.has(key)).sort()).toEqual([]);
  });
});
