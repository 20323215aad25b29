// The web client's entry: render the app, then open this browser's profile (or offer to set one up).
import { render } from 'preact';
import { App } from './app/App.js';
import { boot } from './app/state.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
void boot();
