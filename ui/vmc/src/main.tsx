/** The VMC dashboards: mounts the app (served by `border-gateway vmc` at `/`). */
import { render } from 'preact';
import { App } from './app.js';
import { applyPalette } from './palette.js';
import './styles.css';

applyPalette(document.documentElement);
const root = document.getElementById('app');
if (root) render(<App />, root);
