/**
 * The simulator stands in for the outside world: it may use config/ and core/ and libraries, but
 * nothing of the gateway and nothing of the drivers (DESIGN.md, "Layout" and "Drivers"). A device
 * that shares its driver's encoder or parser cannot show that driver's bugs, so every module
 * under sim/ is read here and each import it makes is resolved.
 */
import { readdirSync, readFileSync } from 'node:fs';
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
});
