import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { buildIntegrity, sodiumStandalone } from './tools/integrity.js';

// The SDK is imported as `@agora/client-sdk/browser` and resolves through its package exports to
// client-sdk/dist, which `tsc -b` builds first (the root `build` script): the app bundles exactly the
// code the SDK's own tests and type checks ran on.
export default defineConfig({
  plugins: [preact(), sodiumStandalone(), buildIntegrity()],
  // `npm run dev -w web-client`: the UI with hot reload, the API from a relay on 8080 (`npm start`).
  server: {
    proxy: { '/v1': { target: 'http://127.0.0.1:8080', ws: true } },
  },
  // The key-derivation worker's code (engine/kdf.worker.ts) is one self-contained script without
  // libsodium: the page appends it to the libsodium chunk it imports itself and starts the result
  // from a blob: URL (engine/kdf-source.ts), from where an import of another chunk would neither
  // resolve nor be checked.
  worker: { format: 'iife' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // No inline script or data: URL: the Content-Security-Policy allows scripts, styles and images
    // from the relay only, and the import map's hash (tools/integrity.ts).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    // One style sheet, loaded by index.html with its integrity: a lazily loaded screen's styles would
    // otherwise come as a <link> that Vite adds at run time, without one.
    cssCodeSplit: false,
    sourcemap: false,
    // libsodium alone is ~530 kB minified; it is a lazy chunk loaded after the first paint.
    chunkSizeWarningLimit: 600,
  },
});
