// Lint is where the SDK's layering is enforced (the client machine and the libraries under it are
// sans-I/O so they run unchanged in Node and browsers and are tested without a relay): they never
// import Node built-ins or network/storage code; only the drivers (client.ts) and transport/ talk
// to the network, and only state/, store/, keysource/ and the Node adapters to storage.
import tseslint from 'typescript-eslint';

const nodeOnly = [
  // A regex, not a gitignore-style group: the group 'crypto' also matched the SDK's own '../crypto/*.js'.
  { regex: '^(node:.*|fs|path|os|crypto|http|https|net|child_process)(/.*)?$', message: 'The SDK core is isomorphic: no Node built-ins (put Node code in client-sdk/src/node/).' },
  { group: ['ws'], message: 'WebSocket implementations are injected (see client.ts WebSocketFactory).' },
];
// One crypto provider (protocol/src/crypto/provider.ts, libsodium, measured faster per primitive in
// bench section g): a second Ed25519 or SHA-2 library would be a second implementation to trust and
// to ship. Tests may still use @noble as an independent reference.
const oneCryptoProvider = { group: ['@noble/*'], message: 'Use the crypto provider (@agora/protocol/crypto/provider): loadCryptoProvider(), or loadedCryptoProvider() in synchronous code.' };
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

// One randomness source: every random byte comes from a RandomSource, the platform's CSPRNG
// (protocol/src/crypto/random.ts, the one file that calls it) unless one was injected. A second
// source would escape the seeded source a test drives the client machine with.
const randomMessage = 'Draw random bytes from an injected RandomSource, or platformRandom (@agora/protocol/crypto/random), the one place that calls the CSPRNG.';
const randomness = {
  files: ['protocol/src/**/*.ts', 'client-sdk/src/**/*.ts', 'server/src/**/*.ts', 'cli/src/**/*.ts', 'web-client/src/**/*.{ts,tsx}'],
  ignores: ['**/*.test.ts', 'protocol/src/crypto/random.ts', 'protocol/src/kt/test-log.ts', 'server/src/testing.ts', 'client-sdk/src/store/contract.ts', 'client-sdk/src/state/test-state.ts'],
  rules: {
    'no-restricted-properties': ['error',
      ...['getRandomValues', 'randombytes_buf', 'randombytes_buf_deterministic', 'randombytes_random', 'randombytes_uniform', 'randomBytes', 'randomFillSync', 'randomFill', 'randomInt', 'randomUUID'].map((property) => ({ property, message: randomMessage })),
      { object: 'Math', property: 'random', message: randomMessage },
    ],
  },
};
// Named imports of Node's generators escape the property rule above.
const nodeRandomImports = ['node:crypto', 'crypto'].map((name) => ({
  name,
  importNames: ['randomBytes', 'randomFillSync', 'randomFill', 'randomInt', 'randomUUID', 'getRandomValues', 'webcrypto'],
  message: randomMessage,
}));

const sansIoImports = [
  ...nodeOnly,
  oneCryptoProvider,
  { group: ['**/transport/*', '**/state/*', '**/node/*', '**/cli/*', '**/client.js', '@agora/client-sdk', '@agora/client-sdk/*'], message: 'Sans-I/O core: it returns data; transport/ and state/ do the I/O (and the protocol package never depends on the SDK).' },
];

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'web-client/build/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['protocol/src/**/*.ts', 'client-sdk/src/**/*.ts'],
    ignores: ['client-sdk/src/node/**', '**/*.test.ts', 'protocol/src/kt/test-log.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [...nodeOnly, oneCryptoProvider] }], 'no-restricted-syntax': ['error', zodWhole, mlsLazy] },
  },
  { files: ['client-sdk/src/mls/**/*.ts'], rules: { 'no-restricted-syntax': ['error', zodWhole] } },
  // The SDK ships no WebSocket implementation and no command-line parser: those belong to the CLI (cli/).
  {
    files: ['client-sdk/src/node/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: nodeRandomImports, patterns: [oneCryptoProvider, { group: ['ws', 'commander'], message: 'The SDK has no ws or commander at runtime: the CLI injects its WebSocket (cli/src/ws.ts).' }] }] },
  },
  randomness,
  { files: ['server/src/**/*.ts', 'cli/src/**/*.ts'], ignores: ['**/*.test.ts', 'server/src/testing.ts'], rules: { 'no-restricted-imports': ['error', { paths: nodeRandomImports, patterns: [oneCryptoProvider] }] } },
  // The relay's test harness may draw test keys from the platform directly, but signs with the provider.
  { files: ['server/src/testing.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [oneCryptoProvider] }] } },
  // The web app runs in the browser and ships to every phone: no Node built-ins, and zod imported so
  // that it tree-shakes. Its build config and the service worker's helpers run elsewhere.
  {
    files: ['web-client/src/**/*.{ts,tsx}'],
    rules: { 'no-restricted-imports': ['error', { patterns: [...nodeOnly, oneCryptoProvider] }], 'no-restricted-syntax': ['error', zodWhole] },
  },
  {
    // The sans-I/O part: the client machine (engine/) and the leaf libraries. It returns requests
    // as data; only the drivers (client.ts), transport/, storage (state/, store/), key sources and
    // the Node adapters and CLI do I/O.
    files: ['protocol/src/**/*.ts', 'client-sdk/src/**/*.ts'],
    ignores: [
      '**/*.test.ts', 'protocol/src/kt/test-log.ts', 'client-sdk/src/node/**', 'client-sdk/src/transport/**', 'client-sdk/src/state/**',
      'client-sdk/src/store/**', 'client-sdk/src/keysource/**', 'client-sdk/src/client.ts', 'client-sdk/src/officer.ts', 'client-sdk/src/index.ts', 'client-sdk/src/browser.ts',
    ],
    rules: {
      'no-restricted-globals': ['error', ...['fetch', 'WebSocket', 'XMLHttpRequest', 'indexedDB', 'localStorage', 'setTimeout', 'setInterval'].map((name) => ({
        name,
        message: 'Sans-I/O core: it takes inputs (answers, pushes, the time) and returns requests as data; the driver does the I/O and the timers.',
      }))],
      'no-restricted-imports': ['error', { patterns: sansIoImports }],
    },
  },
  // The client machine draws every random byte from its injected source (Machine.random), never
  // from the platform's directly; the libraries under it take a source and default to the platform's.
  {
    files: ['client-sdk/src/engine/**/*.ts'],
    ignores: ['**/*.test.ts', 'client-sdk/src/engine/machine.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          ...sansIoImports,
          { regex: '^@agora/protocol(/crypto/random)?$', importNames: ['platformRandom'], message: 'The client machine draws randomness from mc.random (MachineConfig.random), so a seeded source reaches every byte.' },
        ],
      }],
    },
  },
);
