/** The lane console: mounts the app (served by the gateway at `/`, see console/vite.config.ts). */
import { render } from 'preact';
import { App } from './app.js';
import { applyPalette } from './palette.js';
import './styles.css';

applyPalette(document.documentElement);
const root = document.getElementById('app');
if (root) render(<App />, root);
