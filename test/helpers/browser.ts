/**
 * What the browser tests share: Debian's Chromium with the flags a test machine needs (no
 * downloads, no background traffic), and the front-ends built from ui/ when missing or older than
 * their sources (`npm run build` builds them too).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { REPO_ROOT } from './gateway-process.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Fails (never skips) without Chromium: scripts/test.sh installs it. */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/test.sh installs it)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

function newestChange(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds ui/{name} into dist/{outDir} with Vite unless the build is newer than every source. */
export function buildUiIfStale(name: 'console' | 'vmc', outDir: string): void {
  const index = join(REPO_ROOT, 'dist', outDir, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestChange(join(REPO_ROOT, 'ui', name))) return;
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', `ui/${name}/vite.config.ts`, '--logLevel', 'warn'], { cwd: REPO_ROOT, stdio: 'inherit' });
}

/** Opens the dashboard at `base` and logs in with the login form; the page's errors go to `problems`. */
export async function logInToDashboard(page: Page, base: string, name: string, password: string, problems: string[]): Promise<void> {
  page.on('pageerror', (error) => problems.push(error.message));
  await page.goto(base);
  await page.fill('input[name=name]', name);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}
