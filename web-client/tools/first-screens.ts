/** Build step: renders the app's first screens (src/prerender.tsx) in Node and writes each into a
 * copy of the finished index.html (src/first-screen.ts says why). */
import preact from '@preact/preset-vite';
import { createServer } from 'vite';
import type { RenderedScreen } from '../src/prerender.js';

export async function renderFirstScreens(root: string): Promise<RenderedScreen[]> {
  // The app's modules as Vite transforms them for Node (JSX, `?worker&url` imports), without a
  // bundle: nothing of this ends up in the build but the HTML it returns.
  const server = await createServer({
    root,
    configFile: false,
    plugins: [preact()],
    logLevel: 'error',
    appType: 'custom',
    server: { middlewareMode: true, hmr: false, ws: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  try {
    const mod = (await server.ssrLoadModule('/src/prerender.tsx')) as typeof import('../src/prerender.js');
    return mod.renderFirstScreens();
  } finally {
    await server.close();
  }
}

const APP_ROOT = '<div id="app"></div>';

/** index.html with `screen` painted in it. Its fields take typing at once (the app carries it over);
 * its buttons are disabled until the app replaces them with its own, so a tap or click before then
 * is not silently lost (the button shows it cannot act yet, and automation waits for it to be
 * enabled), and its forms get `method="dialog"` as well: outside a dialog such a form submits
 * nowhere, so nothing typed (a PIN) can leave in a URL. Markup that would need a script, or an
 * inline style the Content-Security-Policy refuses, fails the build. */
export function withFirstScreen(shell: string, screen: RenderedScreen): string {
  if (shell.split(APP_ROOT).length !== 2) throw new Error(`index.html should have one empty ${APP_ROOT}`);
  if (!/<html lang="de">/.test(shell)) throw new Error('index.html should start as <html lang="de">');
  if (/<script\b|\son[a-z]+=|\sstyle=/i.test(screen.markup)) throw new Error(`${screen.file}: the first screen's markup has a script, an event handler or an inline style`);
  const markup = screen.markup.replace(/<form\b(?![^>]*\bmethod=)/g, '<form method="dialog"').replace(/<button\b(?![^>]*\bdisabled)/g, '<button disabled');
  // The app starts on the screen the page shows (first-screen.ts, staticScreen), so nothing typed
  // into it is lost to another screen drawn in between.
  return shell.replace('<html lang="de">', `<html lang="${screen.lang}">`).replace(APP_ROOT, `<div id="app" data-first-screen="${screen.screen}">${markup}</div>`);
}
