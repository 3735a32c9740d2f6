/**
 * The lane console's build: Preact through Vite's own JSX transform (no plugin), one bundle in
 * dist/console/ that the gateway serves at `/` under `default-src 'self'` (no inline script, no
 * CDN). `npx vite --config ui/console/vite.config.ts` serves it for development, with /api proxied
 * to a gateway at CONSOLE_API (default http://127.0.0.1:8080).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../../dist/console', import.meta.url)),
    emptyOutDir: true,
    // The polyfill would be a script of its own; every browser the booths run has modulepreload.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 300,
    sourcemap: false,
  },
  server: {
    proxy: { '/api': { target: process.env.CONSOLE_API ?? 'http://127.0.0.1:8080', changeOrigin: false } },
  },
});
