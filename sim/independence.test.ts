/**
 * The simulator stands in for the outside world: it may use config/ and core/ and libraries, but
 * nothing of the gateway and nothing of the drivers (DESIGN.md, "Layout" and "Drivers"). A device
 * that shares its driver's encoder or parser cannot show that driver's bugs, so every module
 * under sim/ is read here and each import it makes is resolved.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SIM = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(SIM, '..');
/** Top-level folders of this package sim/ may import from. */
const ALLOWED = new Set(['sim', 'config', 'core']);
/** The simulator's tests may also use the test helpers (the manual clock). */
const ALLOWED_IN_TESTS = new Set([...ALLOWED, 'test']);

function sources(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(?:ts|js|mjs|cjs)$/.test(entry.name) ? [path] : [];
  });
}

/** Every module specifier: static imports and re-exports, `import type`, dynamic import(), require(). */
function specifiers(text: string): string[] {
  const found: string[] = [];
  const patterns = [/\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"`]([^'"`]+)['"`]/g, /\brequire\s*\(\s*['"`]([^'"`]+)['"`]/g];
  for (const pattern of patterns) for (const match of text.matchAll(pattern)) found.push(match[1] as string);
  return found;
}

/** The top-level folder of this package a specifier resolves into, or null for a library or node: builtin. */
function packageFolder(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return null;
  const target = relative(ROOT, resolve(dirname(file), specifier));
  return target.startsWith('..') ? '(outside the package)' : (target.split(sep)[0] as string);
}

/** The source file a relative specifier names (`./x.js` is `./x.ts` in the sources), or null for a library. */
function sourceOf(file: string, specifier: string): string | null {
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return null;
  const target = resolve(dirname(file), specifier);
  const candidates = [target, target.replace(/\.(?:js|mjs|cjs)$/, '.ts'), `${target}.ts`, join(target, 'index.ts')];
  return candidates.find((candidate) => /\.(?:ts|js|mjs|cjs)$/.test(candidate) && existsSync(candidate)) ?? target;
}

/**
 * Every module `entries` reach through relative imports, each with the chain that reaches it:
 * sim/ may use config/ and core/, but not to reach a driver's protocol code through them.
 */
function reachable(entries: string[]): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  const queue = entries.map((file) => [file]);
  for (let chain = queue.shift(); chain; chain = queue.shift()) {
    const file = chain[chain.length - 1] as string;
    if (chains.has(file)) continue;
    chains.set(file, chain);
    if (!existsSync(file)) continue;
    for (const specifier of specifiers(readFileSync(file, 'utf8'))) {
      const next = sourceOf(file, specifier);
      if (next !== null && !chains.has(next)) queue.push([...chain, next]);
    }
  }
  return chains;
}

describe('the simulator is independent of the gateway and the drivers', () => {
  it('finds the imports it checks (the scanner itself works)', () => {
    const file = join(SIM, 'anpr', 'example.ts');
    const text = "import { a } from '../../drivers/anpr/soap-client.js';\nimport type {\n  B,\n} from '../../gateway/daemon.js';\nexport { c } from './soap-xml.js';\nconst d = await import('../../drivers/x.js');\nimport 'node:fs';\n";
    expect(specifiers(text).map((s) => packageFolder(file, s))).toEqual(['drivers', 'gateway', 'sim', null, 'drivers']);
  });

  it('no module under sim/ imports from drivers/, gateway/ or anything but sim/, config/ and core/ (and test helpers, in tests)', () => {
    // This file's own examples above are strings, not imports.
    const files = sources(SIM).filter((file) => file !== fileURLToPath(import.meta.url));
    expect(files.length).toBeGreaterThan(10);
    const offending = files.flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .map((specifier) => ({ specifier, folder: packageFolder(file, specifier) }))
        .filter(({ folder }) => folder !== null && !(file.endsWith('.test.ts') ? ALLOWED_IN_TESTS : ALLOWED).has(folder))
        .map(({ specifier }) => `${relative(ROOT, file)} imports ${specifier}`),
    );
    expect(offending).toEqual([]);
  });

  it('reaches nothing of drivers/ or gateway/ through config/ and core/ either (every import followed)', () => {
    const entries = sources(SIM).filter((file) => !file.endsWith('.test.ts'));
    const chains = reachable(entries);
    const folders = new Set([...chains.keys()].map((file) => relative(ROOT, file).split(sep)[0]));
    // The walk does follow imports out of sim/ (the simulator uses both).
    expect([...folders].sort()).toEqual(expect.arrayContaining(['config', 'core', 'sim']));
    const offending = [...chains.entries()]
      .filter(([file]) => !ALLOWED.has(relative(ROOT, file).split(sep)[0] as string))
      .map(([, chain]) => chain.map((file) => relative(ROOT, file)).join(' → '));
    expect(offending).toEqual([]);
  });
});
