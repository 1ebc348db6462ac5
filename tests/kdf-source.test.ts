/** The key-derivation worker's script as the page composes it (web-client/src/engine/kdf-source.ts):
 * the libsodium chunk unchanged, then its default export handed to the worker's code. The build
 * composes it too (tools/integrity.ts); here the shapes it must accept and refuse. */
import { describe, expect, it } from '@jest/globals';
import { KDF_SODIUM_GLOBAL, kdfWorkerSource } from '../web-client/src/engine/kdf-source.js';

const WORKER = '(function(){postMessage(1)})();';

describe('kdfWorkerSource', () => {
  it('keeps the chunk byte for byte and hands over the local name it exports as default', () => {
    const chunk = 'var i={ready:c},c=Promise.resolve();export{i as default,c as ready};';
    const source = kdfWorkerSource(chunk, WORKER);
    expect(source.startsWith(chunk)).toBe(true);
    expect(source).toBe(`${chunk}\n;globalThis[${JSON.stringify(KDF_SODIUM_GLOBAL)}]=i;\n${WORKER}`);
    // Whitespace and a missing semicolon, as another minifier might write it.
    expect(kdfWorkerSource('let $a = 1;\nexport { r as ready, $a as default }\n', WORKER)).toContain(']=$a;');
  });

  it('refuses a chunk that does not end by exporting a default under a plain name', () => {
    expect(() => kdfWorkerSource('var i=1;export{i as ready};', WORKER)).toThrow(/default/);
    expect(() => kdfWorkerSource('var i=1;export default i;', WORKER)).toThrow(/default/);
    expect(() => kdfWorkerSource('export{i as default};console.log(1)', WORKER)).toThrow(/default/);
    expect(() => kdfWorkerSource('export{a.b as default};', WORKER)).toThrow(/default/);
  });
});
