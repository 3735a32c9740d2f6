/**
 * docs/operations.md's Configuration section is where an integrator looks up a key (the README
 * sends them there "for every key and default"). This keeps it in step with the one schema: a key
 * added to config/schema.ts without a word in that section fails here, as an error code without
 * its row in docs/errors.md fails core/errors.test.ts; so does a default or a range the section
 * states that the schema does not have (a default changed in the code, the page left behind).
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
  type?: string;
  default?: unknown;
  description?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  const?: unknown;
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

/** A setting as the schema has it: its node, and its default (its own, or its part of the enclosing object's). */
interface Setting {
  node: JsonSchemaNode;
  default: unknown;
}

/** Every setting of each property name anywhere in the schema (a name may have several: `pollMs`, `port`). */
function settingsByKey(node: JsonSchemaNode, into = new Map<string, Setting[]>(), enclosingDefault?: Record<string, unknown>): Map<string, Setting[]> {
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    // `registers` defaults as a whole ({openCoil: 0, …}): each coil's default is its part of it.
    const setting = { node: child, default: schemaDefault(child) ?? enclosingDefault?.[key] };
    into.set(key, [...(into.get(key) ?? []), setting]);
    const own = setting.default;
    settingsByKey(child, into, typeof own === 'object' && own !== null && !Array.isArray(own) ? (own as Record<string, unknown>) : undefined);
  }
  for (const child of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? []), ...(node.items ? [node.items] : [])]) settingsByKey(child, into, enclosingDefault);
  return into;
}

/** The Configuration section (up to the next `## ` heading): its table and the device settings. */
function configurationSection(): string {
  const doc = readFileSync(join(PACKAGE_ROOT, 'docs', 'operations.md'), 'utf8');
  const start = doc.indexOf('\n## Configuration\n');
  expect(start, 'docs/operations.md has a "## Configuration" section').toBeGreaterThan(0);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
}

const UNITS: Record<string, number> = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const NUMBER = String.raw`[-−]?[\d,]*\.?\d+(?:\s*[KMG]iB)?`;

/** A value as the page writes it: `1,000`, `512 MiB`, `−720`, `true`, `[]`, `` `kg` ``, 127.0.0.1; undefined for words. */
function documentedValue(text: string): unknown {
  const trimmed = text.trim();
  const number = new RegExp(`^${NUMBER}$`).test(trimmed) ? /^([-−]?[\d,]*\.?\d+)\s*([KMG]iB)?$/.exec(trimmed) : null;
  if (number) return Number((number[1] as string).replace(/,/g, '').replace('−', '-')) * (number[2] ? (UNITS[number[2]] as number) : 1);
  if (trimmed === 'true' || trimmed === 'false') return trimmed === 'true';
  if (trimmed === '[]') return [];
  const code = /^`([^`]*)`$/.exec(trimmed);
  if (code) return code[1];
  // A bare value has a digit (127.0.0.1); a bare word is prose ("together", "bundled").
  return /^[\w.\-/]+$/.test(trimmed) && /\d/.test(trimmed) ? trimmed : undefined;
}

/**
 * A node's default: the schema's own, or the one its description names where the code applies
 * it (`clientId`'s `border-gateway-{postId}`, a mode's setting left unset so it can be refused
 * without its mode).
 */
function schemaDefault(node: JsonSchemaNode): unknown {
  if (node.default !== undefined) return node.default;
  const named = /\bdefault:? ([^;,()]+?)\s*(?:\)|;|,|:|$)/i.exec(node.description ?? '');
  return named ? (documentedValue(named[1] as string) ?? (named[1] as string).trim()) : undefined;
}

interface Claim {
  key: string;
  /** What the page gives as the default. */
  value: unknown;
  /** The range it states, where it states one: `5–65,535`, `at least 100`. */
  min?: number;
  max?: number;
  text: string;
}

/**
 * What the section states of each key: `` `key` (default; range: words) `` and, inside an object's
 * parentheses, `` `key` value ``. A parenthesis that names no value (`` `directions` (all five) ``)
 * states nothing checked here.
 */
function documentedClaims(section: string): Claim[] {
  const claims: Claim[] = [];
  for (const match of section.matchAll(/`([A-Za-z]\w*)`/g)) {
    const after = section.slice((match.index) + match[0].length);
    const inParentheses = /^ \(([^)]*)\)/.exec(after);
    const bare = new RegExp(`^ (${NUMBER}|true|false)(?=[,;)])`).exec(after);
    const text = inParentheses?.[1] ?? bare?.[1];
    if (text === undefined) continue;
    // Parts end at `;`, `:` and `, ` (not the comma of 65,535).
    const [first = '', ...rest] = text.split(/[;:]|,(?!\d{3})/);
    // "`role` (`entry`, `exit` or `lane`; default `lane`)": the default named as such.
    const named = /\bdefault `([^`]+)`/.exec(text);
    const claim: Claim = { key: match[1] as string, value: named ? named[1] : documentedValue(first), text };
    for (const part of rest) {
      // A bound of a number, or of a text's length ("at most 512 characters").
      const between = new RegExp(`^\\s*(${NUMBER})–(${NUMBER})(?: characters)?\\s*$`).exec(part);
      const atLeast = new RegExp(`^\\s*at least (${NUMBER})(?: characters)?\\s*$`).exec(part);
      const atMost = new RegExp(`^\\s*at most (${NUMBER})(?: characters)?\\s*$`).exec(part);
      if (between) Object.assign(claim, { min: documentedValue(between[1] as string), max: documentedValue(between[2] as string) });
      if (atLeast) claim.min = documentedValue(atLeast[1] as string) as number;
      if (atMost) claim.max = documentedValue(atMost[1] as string) as number;
    }
    if (claim.value !== undefined || claim.min !== undefined) claims.push(claim);
  }
  return claims;
}

/**
 * The part of the schema a line of the section is about: a table row's first cell names a
 * section (`http`, `lanes[]`) or drivers (`sma`, `toledo`, `pattern`); any other line, the whole.
 */
function scopeOf(line: string, schema: JsonSchemaNode): JsonSchemaNode[] {
  if (!line.startsWith('| `')) return [schema];
  const names = [...(line.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => (m[1] as string).replace(/\[\]$/, ''));
  const sections = names.map((name) => schema.properties?.[name]).filter((node): node is JsonSchemaNode => node !== undefined);
  if (sections.length > 0) return sections;
  const devices = schema.properties?.lanes?.items?.properties?.devices?.items?.oneOf ?? [];
  const drivers = devices.filter((device) => names.includes(String(device.properties?.driver?.const)));
  return drivers.length > 0 ? drivers : [schema];
}

/** The words inside `code spans` of the Configuration section. */
function documentedWords(): Set<string> {
  const section = configurationSection();
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

  it('states the defaults and the ranges the schema has', () => {
    const schema = JSON.parse(postConfigJsonSchema()) as JsonSchemaNode;
    const isObject = (setting: Setting): boolean => setting.node.type === 'object' || setting.node.properties !== undefined;
    // Each row of the section's tables is about one part of the schema (its first cell: a section
    // such as `http`, or the drivers a device row names): its claims are checked against that
    // part's settings, so `http`'s `port` written as 8081 (`devicePush`'s) fails. Prose, the whole.
    const claimsWithSettings = configurationSection()
      .split('\n')
      .flatMap((line) => {
        const settings = settingsByKey({ anyOf: scopeOf(line, schema) });
        return documentedClaims(line).map((claim) => ({ claim, settings }));
      })
      // Claims about settings the schema has: a word in code that is no key (`lane` in "`role` (`lane`)")
      // is not one, and an object's parentheses list its keys (`tls` (`ca`, …)), not a value.
      .filter(({ claim, settings }) => (settings.get(claim.key) ?? []).some((setting) => !isObject(setting)));
    const claims = claimsWithSettings.map(({ claim }) => claim);
    const wrong = claimsWithSettings.flatMap(({ claim, settings }) => {
      const candidates = settings.get(claim.key) ?? [];
      // A name several settings share (`pollMs` of a barrier and of an SMA indicator): one of them must agree.
      const agrees = candidates.some((setting) => {
        const expected = setting.default;
        const sameDefault =
          claim.value === undefined ||
          JSON.stringify(expected) === JSON.stringify(claim.value) ||
          // Described defaults ("the bundled model") are checked by their words.
          (typeof expected === 'string' && expected.includes(' ') && typeof claim.value === 'string' && expected.includes(claim.value));
        const sameMin = claim.min === undefined || (setting.node.minimum ?? setting.node.minLength) === claim.min;
        const sameMax = claim.max === undefined || (setting.node.maximum ?? setting.node.maxLength) === claim.max;
        return sameDefault && sameMin && sameMax;
      });
      return agrees ? [] : [`${claim.key} (${claim.text}): the schema has ${JSON.stringify(candidates.map((setting) => ({ default: setting.default, minimum: setting.node.minimum ?? setting.node.minLength, maximum: setting.node.maximum ?? setting.node.maxLength })))}`];
    });
    expect(wrong).toEqual([]);
    // The page states many: the parse did not come up empty (which would pass anything).
    expect(claims.filter((claim) => claim.value !== undefined).length).toBeGreaterThan(60);
    expect(claims.filter((claim) => claim.max !== undefined).length).toBeGreaterThan(20);
  });
});
