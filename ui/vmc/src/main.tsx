/** The VMC dashboards: mounts the app (served by `border-gateway vmc` at `/`). */
import { render } from 'preact';
import { App } from './app.js';
import './styles.css';

const root = document.getElementById('app');
if (root) render(<App />, root);
