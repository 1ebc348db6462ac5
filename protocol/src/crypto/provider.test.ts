import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { execFileSync } from 'node:child_process';
import { loadCryptoProvider, loadedCryptoProvider, platformRandom, type RandomSource } from './provider.js';

/** A source that counts what it hands out, so a test sees which draws went through it. */
function countingSource(): RandomSource & { drawn: number } {
  const f = ((n: number) => {
    f.drawn += n;
    return new Uint8Array(n).fill(7);
  }) as RandomSource & { drawn: number };
  f.drawn = 0;
  return f;
}

test('platformRandom fills requests above getRandomValues\'s 65,536-byte limit, and never repeats', () => {
  const big = platformRandom(200_000);
  expect(big).toHaveLength(200_000);
  // The last chunk is filled too (a zero run this long is 2^-8000 likely).
  expect(big.subarray(196_608).some((b) => b !== 0)).toBe(true);
  expect(platformRandom(32)).not.toEqual(platformRandom(32));
  expect(platformRandom(0)).toHaveLength(0);
});

test('a provider draws from the source it was loaded with, one provider per source', async () => {
  const source = countingSource();
  const p = await loadCryptoProvider(source);
  expect(await loadCryptoProvider(source)).toBe(p);
  expect(await loadCryptoProvider()).not.toBe(p);
  expect(p.random(5)).toEqual(new Uint8Array(5).fill(7));
  expect(source.drawn).toBe(5);
  expect((await loadCryptoProvider()).random).toBe(platformRandom);
});

test('every primitive gives the bytes @noble gives', async () => {
  const p = await loadCryptoProvider();
  const seed = platformRandom(32);
  const message = platformRandom(100);
  const signature = p.ed25519Sign(seed, message);
  expect(signature).toEqual(ed25519.sign(message, seed));
  expect(p.ed25519PublicKey(seed)).toEqual(ed25519.getPublicKey(seed));
  expect(p.ed25519Verify(ed25519.getPublicKey(seed), message, signature)).toBe(true);
  const tampered = signature.slice();
  tampered[0] ^= 1;
  expect(p.ed25519Verify(ed25519.getPublicKey(seed), message, tampered)).toBe(false);
  expect(p.ed25519Verify(new Uint8Array(31), message, signature)).toBe(false);

  const [a, b] = [platformRandom(32), platformRandom(32)];
  expect(p.x25519Base(a)).toEqual(x25519.getPublicKey(a));
  expect(p.x25519(a, x25519.getPublicKey(b))).toEqual(x25519.getSharedSecret(a, x25519.getPublicKey(b)));
  // A small-order point gives an all-zero secret, which HPKE must refuse.
  expect(() => p.x25519(a, new Uint8Array(32))).toThrow();

  expect(p.sha256(message)).toEqual(sha256(message));
  expect(p.sha512(message)).toEqual(sha512(message));
  for (const keyLength of [0, 16, 32, 100]) {
    const key = platformRandom(keyLength);
    expect(p.hmacSha256(key, message)).toEqual(hmac(sha256, key, message));
  }
  const salt = platformRandom(32);
  const info = platformRandom(10);
  expect(p.hkdfExpand(p.hkdfExtract(salt, message), info, 80)).toEqual(hkdf(sha256, message, salt, info, 80));
});

test('a signature key in WebCrypto\'s PKCS#8 form signs as its seed; other encodings are refused', async () => {
  const p = await loadCryptoProvider();
  const seed = platformRandom(32);
  const pkcs8 = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20, ...seed]);
  const message = platformRandom(40);
  expect(p.ed25519Sign(pkcs8, message)).toEqual(p.ed25519Sign(seed, message));
  expect(() => p.ed25519Sign(platformRandom(33), message)).toThrow(RangeError);
});

test('the synchronous accessor is the platform provider, and refuses to run before any load', async () => {
  expect(loadedCryptoProvider()).toBe(await loadCryptoProvider());
  // A fresh process that forgets to load: the first key-transparency hash fails loudly, and works
  // once the provider is loaded. (The built package, as the relay and the CLI run it.)
  const script = [
    "const kt = await import('@agora/protocol/kt');",
    "try { kt.leafHash(new Uint8Array(1)); console.log('no error'); } catch (e) { console.log(e.message); }",
    "await (await import('@agora/protocol/crypto/provider')).loadCryptoProvider();",
    "console.log(Buffer.from(kt.leafHash(new Uint8Array(1))).toString('hex'));",
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split('\n');
  expect(out[0]).toMatch(/crypto provider not loaded yet: await loadCryptoProvider\(\)/);
  expect(out[1]).toBe(Buffer.from(sha256(Uint8Array.of(0, 0))).toString('hex'));
});
