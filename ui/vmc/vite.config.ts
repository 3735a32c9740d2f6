/**
 * The VMC dashboards' build: Preact through Vite's own JSX transform (no plugin), one bundle in
 * dist/vmc-ui/ that `border-gateway vmc` serves at `/` under `default-src 'self'`.
 * `VMC_API=http://127.0.0.1:8090 npx vite --config ui/vmc/vite.config.ts` serves it for
 * development with /api proxied to a running VMC.
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
    outDir: fileURLToPath(new URL('../../dist/vmc-ui', import.meta.url)),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: { proxy: { '/api': { target: process.env.VMC_API ?? 'http://127.0.0.1:8090', changeOrigin: false } } },
});
