/** Entry point: paints the shell at once and starts the engine, which picks the first screen from
 * a plain IndexedDB read and loads the crypto in its own chunks after the first paint. Nothing here
 * waits for the network or for libsodium. */
import { render } from 'preact';
import './styles.css';
import { App, preloadUnlocked } from './app.js';
import { Engine } from './engine/engine.js';
import { registerServiceWorker } from './sw-register.js';
import { nextPaint, preloadSdk, whenIdle } from './preload.js';

const engine = new Engine();
const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');
// Started before the first render: its IndexedDB and tab-lock requests go to the browser process
// while the page renders, and the invite or PIN form can then be in the first paint. The engine
// waits for a paint itself before it loads the SDK.
void engine.start();
render(<App engine={engine} />, root);

// The crypto chunks are requested (and compiled) once the first usable screen has painted: earlier,
// compiling them would hold up that very screen on a slow phone.
const firstScreen = new Promise<void>((resolve) => {
  const check = () => {
    // A profile that opens without a PIN is waiting for the SDK itself: preloading helps it too.
    if (engine.state.phase === 'starting' && engine.state.progress !== 'progress.loadingCrypto') return;
    stop();
    resolve();
  };
  const stop = engine.subscribe(check);
  check();
});
void firstScreen.then(nextPaint).then(() => {
  preloadSdk();
  // The screens behind the PIN, evaluated while it is typed: when the page is idle, so the first
  // keystrokes do not wait for them (the crypto, which the unlock needs, comes first).
  whenIdle(preloadUnlocked);
  void registerServiceWorker({ onUpdateReady: (apply) => engine.offerUpdate(apply) });
});
