/** Entry point: replaces the static first screen the HTML came with (first-screen.ts) by the live
 * app, keeping what was typed into it, and starts the engine, which checks the screen with a plain
 * IndexedDB read and loads the crypto in its own chunks after the first paint. Nothing here waits
 * for the network or for libsodium. */
import { render } from 'preact';
import './styles.css';
import { App, preloadUnlocked } from './app.js';
import { Engine } from './engine/engine.js';
import { registerServiceWorker } from './sw-register.js';
import { nextPaint, preloadSdk, whenIdle } from './preload.js';
import { APP_RUNNING_MARK, publishFirstScreen, staticScreen, takeTyped } from './first-screen.js';
import { onScreenRemembered, rememberedScreen } from './engine/screen-hint.js';
import { currentLang, onLangChange } from './i18n/index.js';

const engine = new Engine();
const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');
// Started before the first render: its IndexedDB and tab-lock requests go to the browser process
// while the page renders. It starts on the screen remembered on this device, else on the one the
// page came with (for a new device, the invite form): what the person already sees and may be
// typing into. The engine waits for a paint itself before it loads the SDK.
void engine.start(staticScreen(root));
const typed = takeTyped(root);
root.replaceChildren();
delete root.dataset.firstScreen;
render(<App engine={engine} />, root);
typed.restore(root);
// From here the form's buttons act: the benchmark reports this next to the first paint.
performance.mark(APP_RUNNING_MARK);

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
  // The next start's static screen: the form this device will open with, in its language.
  const publish = () => void publishFirstScreen(rememberedScreen() ?? 'starting', currentLang());
  publish();
  onScreenRemembered(publish);
  onLangChange(publish);
});
