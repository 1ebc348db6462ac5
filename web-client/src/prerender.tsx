/** The first screens as HTML, rendered at build time in Node (tools/first-screens.ts loads this
 * module): the same components and words the app renders, with an engine that has only been told
 * which form to show. See first-screen.ts for how a start gets its copy. */
import { renderToString } from 'preact-render-to-string';
import { App } from './app.js';
import { Engine } from './engine/engine.js';
import { setLang, type Lang } from './i18n/index.js';
import { FIRST_SCREENS, FIRST_SCREEN_LANGS, firstScreenFile, type FirstScreen } from './first-screen.js';

export interface RenderedScreen {
  /** Its path in the build (first-screen.ts). */
  file: string;
  screen: FirstScreen;
  lang: Lang;
  /** The markup that goes inside `<div id="app">`. */
  markup: string;
}

export function renderFirstScreens(): RenderedScreen[] {
  const out: RenderedScreen[] = [];
  for (const lang of FIRST_SCREEN_LANGS) {
    setLang(lang);
    for (const screen of FIRST_SCREENS) {
      const engine = new Engine();
      engine.presetScreen(screen);
      out.push({ file: firstScreenFile(screen, lang), screen, lang, markup: renderToString(<App engine={engine} />) });
    }
  }
  setLang('de');
  return out;
}
