/** (g) Which library does each primitive: libsodium (the sumo build, WebAssembly) against @noble
 * (pure JavaScript) for the primitives both offer, timed in one process one after the other, and the
 * bytes each costs a browser that loads it. The client's one crypto provider
 * (protocol/src/crypto/provider.ts) is chosen from these numbers. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { median, num, type Section, type Table } from './report.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ProviderOptions {
  /** Calls per timed batch and batches per primitive (alternating libraries; the median batch counts). */
  calls: number;
  rounds: number;
  /** Message size for signatures, hashes, MACs and AEADs (a record's signed digest input is ~100 B). */
  messageBytes: number;
}

export const DEFAULT_PROVIDERS: ProviderOptions = { calls: 400, rounds: 7, messageBytes: 100 };

type Sodium = (typeof import('libsodium-wrappers-sumo'))['default'];

interface Pair {
  name: string;
  sodium: () => unknown;
  noble: () => unknown;
  /** Both libraries must give the same bytes (or the same verdict); checked once before timing. */
  same?: () => boolean;
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function pairs(sodium: Sodium, bytes: number): Pair[] {
  const rnd = (n: number) => Uint8Array.from(sodium.randombytes_buf(n));
  const msg = rnd(bytes);
  const seed = rnd(32);
  const { privateKey: expanded, publicKey: signPub } = sodium.crypto_sign_seed_keypair(seed);
  const sig = sodium.crypto_sign_detached(msg, expanded);
  const xSecret = rnd(32);
  const xPeer = sodium.crypto_scalarmult_base(rnd(32));
  const key = rnd(32);
  const nonce12 = rnd(12);
  const nonce24 = rnd(24);
  const aad = rnd(20);
  const bigMsg = rnd(4096);
  return [
    { name: 'Ed25519 sign (seed expanded once)', sodium: () => sodium.crypto_sign_detached(msg, expanded), noble: () => ed25519.sign(msg, seed), same: () => eq(sodium.crypto_sign_detached(msg, expanded), ed25519.sign(msg, seed)) },
    { name: 'Ed25519 verify', sodium: () => sodium.crypto_sign_verify_detached(sig, msg, signPub), noble: () => ed25519.verify(sig, msg, signPub, { zip215: false }), same: () => sodium.crypto_sign_verify_detached(sig, msg, signPub) === ed25519.verify(sig, msg, signPub, { zip215: false }) },
    { name: 'Ed25519 public key from seed', sodium: () => sodium.crypto_sign_seed_keypair(seed), noble: () => ed25519.getPublicKey(seed), same: () => eq(sodium.crypto_sign_seed_keypair(seed).publicKey, ed25519.getPublicKey(seed)) },
    { name: 'X25519 shared secret', sodium: () => sodium.crypto_scalarmult(xSecret, xPeer), noble: () => x25519.getSharedSecret(xSecret, xPeer), same: () => eq(sodium.crypto_scalarmult(xSecret, xPeer), x25519.getSharedSecret(xSecret, xPeer)) },
    { name: 'X25519 public key', sodium: () => sodium.crypto_scalarmult_base(xSecret), noble: () => x25519.getPublicKey(xSecret), same: () => eq(sodium.crypto_scalarmult_base(xSecret), x25519.getPublicKey(xSecret)) },
    { name: `SHA-256 (${bytes} B)`, sodium: () => sodium.crypto_hash_sha256(msg), noble: () => sha256(msg), same: () => eq(sodium.crypto_hash_sha256(msg), sha256(msg)) },
    { name: 'SHA-256 (4 KiB)', sodium: () => sodium.crypto_hash_sha256(bigMsg), noble: () => sha256(bigMsg), same: () => eq(sodium.crypto_hash_sha256(bigMsg), sha256(bigMsg)) },
    { name: `SHA-512 (${bytes} B)`, sodium: () => sodium.crypto_hash_sha512(msg), noble: () => sha512(msg), same: () => eq(sodium.crypto_hash_sha512(msg), sha512(msg)) },
    { name: `HMAC-SHA-256 (${bytes} B)`, sodium: () => sodium.crypto_auth_hmacsha256(msg, key), noble: () => hmac(sha256, key, msg), same: () => eq(sodium.crypto_auth_hmacsha256(msg, key), hmac(sha256, key, msg)) },
    {
      name: `ChaCha20-Poly1305 seal (${bytes} B)`,
      sodium: () => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(msg, aad, null, nonce12, key),
      noble: () => chacha20poly1305(key, nonce12, aad).encrypt(msg),
      same: () => eq(sodium.crypto_aead_chacha20poly1305_ietf_encrypt(msg, aad, null, nonce12, key), chacha20poly1305(key, nonce12, aad).encrypt(msg)),
    },
    {
      name: 'XChaCha20-Poly1305 seal (4 KiB, a record)',
      sodium: () => sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(bigMsg, aad, null, nonce24, key),
      noble: () => xchacha20poly1305(key, nonce24, aad).encrypt(bigMsg),
      same: () => eq(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(bigMsg, aad, null, nonce24, key), xchacha20poly1305(key, nonce24, aad).encrypt(bigMsg)),
    },
    { name: '32 random bytes (libsodium randombytes_buf vs crypto.getRandomValues)', sodium: () => sodium.randombytes_buf(32), noble: () => globalThis.crypto.getRandomValues(new Uint8Array(32)) },
  ];
}

/** µs per call: `rounds` batches of `calls`, libsodium and noble alternating, median batch of each. */
function time(p: Pair, opts: ProviderOptions): { sodium: number; noble: number } {
  const batch = (f: () => unknown) => {
    const t = performance.now();
    for (let i = 0; i < opts.calls; i++) f();
    return ((performance.now() - t) * 1000) / opts.calls;
  };
  // Warm-up: noble's JavaScript needs the JIT to reach its steady speed.
  for (let w = 0; w < 3; w++) {
    batch(p.sodium);
    batch(p.noble);
  }
  const s: number[] = [];
  const n: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    s.push(batch(p.sodium));
    n.push(batch(p.noble));
  }
  return { sodium: median(s), noble: median(n) };
}

/** Minified ESM for the browser, as the web app's bundler makes it: bytes and gzip bytes. */
async function bundleCost(source: string): Promise<{ bytes: number; gzip: number }> {
  const out = await build({
    stdin: { contents: source, resolveDir: ROOT, loader: 'ts' },
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify: true,
    write: false,
    logLevel: 'silent',
    // libsodium's asm.js fallback names Node modules it never loads in a browser.
    external: ['path', 'fs', 'crypto'],
  });
  const code = out.outputFiles.map((f) => f.contents).reduce((a, b) => a + b.length, 0);
  const gzip = out.outputFiles.reduce((a, f) => a + gzipSync(f.contents, { level: 9 }).length, 0);
  return { bytes: code, gzip };
}

export async function cryptoProvidersSection(opts: ProviderOptions = DEFAULT_PROVIDERS): Promise<Section> {
  const mod = await import('libsodium-wrappers-sumo');
  await mod.ready;
  const sodium = mod.default;
  const rows: { name: string; sodium: number; noble: number }[] = [];
  for (const p of pairs(sodium, opts.messageBytes)) {
    if (p.same && !p.same()) throw new Error(`${p.name}: libsodium and noble disagree`);
    rows.push({ name: p.name, ...time(p, opts) });
  }
  const kb = (b: number) => `${num(b / 1024)} KB`;
  const sizes = {
    sodium: await bundleCost("import s from 'libsodium-wrappers-sumo'; export const x = s;"),
    nobleEd: await bundleCost("export { ed25519, x25519 } from '@noble/curves/ed25519.js';"),
    nobleHashes: await bundleCost("export { sha256, sha512 } from '@noble/hashes/sha2.js'; export { hmac } from '@noble/hashes/hmac.js'; export { hkdf } from '@noble/hashes/hkdf.js';"),
    nobleAll: await bundleCost(
      "export { ed25519, x25519 } from '@noble/curves/ed25519.js'; export { sha256, sha512 } from '@noble/hashes/sha2.js'; export { hmac } from '@noble/hashes/hmac.js'; export { hkdf } from '@noble/hashes/hkdf.js'; export { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';",
    ),
  };
  const speed: Table = {
    caption: `µs per call (median of ${opts.rounds} batches of ${opts.calls}, the two libraries alternating); the ratio is noble ÷ libsodium`,
    headers: ['primitive', 'libsodium (sumo, WebAssembly)', '@noble (JavaScript)', 'noble ÷ libsodium'],
    rows: rows.map((r) => [r.name, num(r.sodium), num(r.noble), `${(r.noble / r.sodium).toFixed(2)}×`]),
  };
  const bundle: Table = {
    caption: 'What each costs a browser (esbuild, browser platform, minified ESM; gzip level 9)',
    headers: ['import', 'minified', 'gzip'],
    rows: [
      ['libsodium-wrappers-sumo (everything, incl. Argon2id)', kb(sizes.sodium.bytes), kb(sizes.sodium.gzip)],
      ['@noble/curves ed25519 + x25519', kb(sizes.nobleEd.bytes), kb(sizes.nobleEd.gzip)],
      ['@noble/hashes sha256 + sha512 + hmac + hkdf', kb(sizes.nobleHashes.bytes), kb(sizes.nobleHashes.gzip)],
      ['all of the above from @noble (+ ChaCha20-Poly1305 from @noble/ciphers)', kb(sizes.nobleAll.bytes), kb(sizes.nobleAll.gzip)],
    ],
  };
  const by = (prefix: string) => rows.find((r) => r.name.startsWith(prefix))!;
  const slowest = rows.filter((r) => !r.name.startsWith('32 random')).reduce((a, r) => (r.noble / r.sodium < a.noble / a.sodium ? r : a));
  return {
    title: '(g) Crypto provider: libsodium vs @noble per primitive',
    findings: [
      `Ed25519 verify: libsodium ${num(by('Ed25519 verify').sodium)} µs, noble ${num(by('Ed25519 verify').noble)} µs (${(by('Ed25519 verify').noble / by('Ed25519 verify').sodium).toFixed(1)}×); sign ${(by('Ed25519 sign').noble / by('Ed25519 sign').sodium).toFixed(1)}×, X25519 ${(by('X25519 shared').noble / by('X25519 shared').sodium).toFixed(1)}× in libsodium's favour. The closest primitive is ${slowest.name} (${(slowest.noble / slowest.sodium).toFixed(2)}×).`,
      `Randomness: crypto.getRandomValues takes ${num(by('32 random').noble)} µs for 32 bytes, libsodium's randombytes_buf ${num(by('32 random').sodium)} µs.`,
      `Bundle: libsodium is ${kb(sizes.sodium.gzip)} gzip and is loaded on first use anyway (Argon2id is only there); the noble primitives the code used beside it add ${kb(sizes.nobleEd.gzip)} (curves) and ${kb(sizes.nobleHashes.gzip)} (hashes) gzip.`,
    ],
    how: [
      `Each primitive is called ${opts.calls} times in a batch, libsodium's batch and noble's alternating, ${opts.rounds} batches each after three warm-up batches; the median batch gives µs per call. Before timing, both libraries' outputs are checked to be byte-identical (Ed25519 is deterministic; verification uses noble's strict RFC 8032 mode, as libsodium does). Messages are ${opts.messageBytes} random bytes unless the row says 4 KiB.`,
      'Bundle sizes: esbuild bundles a one-line module importing just those functions for the browser (minified ESM), as the web app\'s bundler does; gzip at level 9.',
    ],
    tables: [speed, bundle],
  };
}
