/**
 * The VMC shares the contract with the gateway, not its internals (DESIGN.md, "Layout"): vmc/
 * may import vmc/, contract/, config/ and core/; contract/ only contract/, config/ and core/.
 * Every module is read and each relative import resolved (as sim/independence.test.ts does).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sources(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'dist' ? [] : sources(path);
    return /\.(?:ts|tsx|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

function specifiers(text: string): string[] {
  const patterns = [/\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"`]([^'"`]+)['"`]/g];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[1] as string));
}

function offending(folder: string, allowed: Set<string>, allowedInTests: Set<string>): string[] {
  return sources(join(ROOT, folder)).flatMap((file) =>
    specifiers(readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => ({ s, top: relative(ROOT, resolve(dirname(file), s)).split(sep)[0] as string }))
      .filter(({ top }) => !(file.endsWith('.test.ts') ? allowedInTests : allowed).has(top))
      .map(({ s }) => `${relative(ROOT, file)} imports ${s}`),
  );
}

describe('the VMC and the contract stand apart from the gateway', () => {
  it('vmc/ imports only vmc/, contract/, config/ and core/ (its tests also test/ helpers)', () => {
    expect(sources(join(ROOT, 'vmc')).length).toBeGreaterThan(8);
    const base = ['vmc', 'contract', 'config', 'core'];
    expect(offending('vmc', new Set(base), new Set([...base, 'test']))).toEqual([]);
  });

  it('contract/ imports only contract/, config/ and core/ (its tests may drive the demo traffic)', () => {
    const base = ['contract', 'config', 'core'];
    expect(offending('contract', new Set(base), new Set([...base, 'test', 'gateway']))).toEqual([]);
  });
});
