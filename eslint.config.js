// Lint is where the SDK's layering is enforced (the client core is sans-I/O so it runs unchanged in Node and browsers): the isomorphic core never imports
// Node built-ins or network/storage code; only transport/ talks to the network and only state/
// (and the Node adapters) to storage.
import tseslint from 'typescript-eslint';

const nodeOnly = [
  // A regex, not a gitignore-style group: the group 'crypto' also matched the SDK's own '../crypto/*.js'.
  { regex: '^(node:.*|fs|path|os|crypto|http|https|net|child_process)(/.*)?$', message: 'The SDK core is isomorphic: no Node built-ins (put Node code in client-sdk/src/node/).' },
  { group: ['ws'], message: 'WebSocket implementations are injected (see client.ts WebSocketFactory).' },
];
// zod's named `z` (and its default export) is the whole namespace object, which defeats
// tree-shaking: every check and locale lands in the browser bundle (tests/bundle.test.ts holds its budget).
const zodWhole = {
  selector: "ImportDeclaration[source.value='zod'] > :matches(ImportSpecifier[imported.name='z'], ImportDefaultSpecifier)",
  message: "Use import * as z from 'zod': the named or default z pulls all of zod into the browser bundle.",
};
// ts-mls is loaded on first use (mls/index.ts); one static import elsewhere puts it in the first chunk.
const mlsLazy = {
  selector: "ImportDeclaration[importKind!='type'][source.value=/^ts-mls|\\/mls\\/(group|provider|hpke|primitives)\\.js$/]",
  message: 'Import the MLS layer from mls/index.js, which loads ts-mls lazily.',
};

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'data/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['client-sdk/src/**/*.ts'],
    ignores: ['client-sdk/src/node/**', 'client-sdk/src/cli/**', 'client-sdk/src/**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: nodeOnly }], 'no-restricted-syntax': ['error', zodWhole, mlsLazy] },
  },
  { files: ['client-sdk/src/mls/**/*.ts'], rules: { 'no-restricted-syntax': ['error', zodWhole] } },
  {
    files: ['client-sdk/src/protocol/**/*.ts', 'client-sdk/src/core/**/*.ts', 'client-sdk/src/crypto/**/*.ts', 'client-sdk/src/mls/**/*.ts', 'client-sdk/src/kt/**/*.ts'],
    ignores: ['client-sdk/src/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...nodeOnly,
            { group: ['**/transport/*', '**/state/*', '**/node/*', '**/cli/*', '**/client.js'], message: 'Sans-I/O core: it returns data; transport/ and state/ do the I/O.' },
          ],
        },
      ],
    },
  },
);
