import { CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import type { Hpke } from 'ts-mls';
import { loadCryptoProvider, type CryptoProvider as Primitives } from '@agora/protocol/crypto/provider';
import { makeHpke, makeHpkeCore, type HpkeCore } from './hpke.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const buf = (b: Uint8Array): ArrayBuffer => b.slice().buffer as ArrayBuffer;

/** RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base mode. */
const A21 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  ikmE: '909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b',
  pkEm: '1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a',
  skEm: 'f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600',
  ikmR: '1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df',
  pkRm: '4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a',
  skRm: '8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb',
  enc: '1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a',
  sharedSecret: '0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7',
  key: 'ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91',
  baseNonce: '5c4d98150661b848853b547f',
  exporterSecret: 'a3b010d4994890e2c6968a36f64470d3c824c8f5029942feb11e7a74b2921922',
  pt: '4265617574792069732074727574682c20747275746820626561757479',
  encryptions: [
    { seq: 0, aad: '436f756e742d30', ct: '1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28' },
    { seq: 1, aad: '436f756e742d31', ct: '6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c' },
    { seq: 255, aad: '436f756e742d323535', ct: '18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c' },
  ],
  exports: [
    { context: '', value: '4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e' },
    { context: '00', value: '8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69' },
    { context: '54657374436f6e74657874', value: '5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53' },
  ],
};

let p: Primitives;
let core: HpkeCore;
let hpke: Hpke;
const reference = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });

beforeAll(async () => {
  p = await loadCryptoProvider();
  core = makeHpkeCore(p);
  hpke = makeHpke(p);
});

describe('HPKE against RFC 9180 Appendix A.2.1', () => {
  it('DeriveKeyPair gives the published key pairs', () => {
    const e = core.deriveKeyPair(hex(A21.ikmE));
    const r = core.deriveKeyPair(hex(A21.ikmR));
    expect(toHex(e.sk)).toBe(A21.skEm);
    expect(toHex(e.pk)).toBe(A21.pkEm);
    expect(toHex(r.sk)).toBe(A21.skRm);
    expect(toHex(r.pk)).toBe(A21.pkRm);
  });

  it('the sender and receiver key schedules give every published intermediate', () => {
    const s = core.setupSender(hex(A21.pkRm), hex(A21.info), hex(A21.skEm));
    expect(toHex(s.enc)).toBe(A21.enc);
    expect(toHex(s.sharedSecret)).toBe(A21.sharedSecret);
    expect(toHex(s.key)).toBe(A21.key);
    expect(toHex(s.baseNonce)).toBe(A21.baseNonce);
    expect(toHex(s.exporterSecret)).toBe(A21.exporterSecret);
    const r = core.setupReceiver(hex(A21.enc), hex(A21.skRm), hex(A21.info));
    expect(toHex(r.sharedSecret)).toBe(A21.sharedSecret);
    expect(toHex(r.key)).toBe(A21.key);
    expect(toHex(r.baseNonce)).toBe(A21.baseNonce);
    expect(toHex(r.exporterSecret)).toBe(A21.exporterSecret);
  });

  it('encrypts the published ciphertexts (nonce = base_nonce XOR seq)', () => {
    for (const { seq, aad, ct } of A21.encryptions) {
      const nonce = hex(A21.baseNonce);
      for (let i = 0, s = seq; s > 0; i++, s = Math.floor(s / 256)) nonce[nonce.length - 1 - i] ^= s & 0xff;
      expect(toHex(p.aeadEncrypt(hex(A21.key), nonce, hex(aad), hex(A21.pt)))).toBe(ct);
    }
  });

  it('single-shot open of the sequence-0 ciphertext, and the exported values', async () => {
    const sk = await hpke.importPrivateKey(hex(A21.skRm));
    const first = A21.encryptions[0];
    expect(toHex(await hpke.open(sk, hex(A21.enc), hex(first.ct), hex(A21.info), hex(first.aad)))).toBe(A21.pt);
    for (const { context, value } of A21.exports) {
      expect(toHex(await hpke.importSecret(sk, hex(context), hex(A21.enc), 32, hex(A21.info)))).toBe(value);
    }
  });

  it('refuses a tampered ciphertext, a wrong info and a small-order encapsulation', async () => {
    const sk = await hpke.importPrivateKey(hex(A21.skRm));
    const ct = hex(A21.encryptions[0].ct);
    ct[3] ^= 1;
    await expect(hpke.open(sk, hex(A21.enc), ct, hex(A21.info), hex(A21.encryptions[0].aad))).rejects.toThrow();
    await expect(
      hpke.open(sk, hex(A21.enc), hex(A21.encryptions[0].ct), new Uint8Array(1), hex(A21.encryptions[0].aad)),
    ).rejects.toThrow();
    await expect(hpke.open(sk, new Uint8Array(32), hex(A21.encryptions[0].ct), hex(A21.info))).rejects.toThrow();
  });

  it('key objects do not show their bytes', async () => {
    const { privateKey } = await hpke.generateKeyPair();
    expect(JSON.stringify(privateKey)).toBe('{"type":"private","algorithm":{"name":"X25519"},"extractable":true,"usages":[]}');
  });
});

describe('HPKE interoperates with @hpke/core (what ts-mls uses by default)', () => {
  const info = new TextEncoder().encode('MLS 1.0 test');
  const aad = Uint8Array.of(1, 2, 3);
  const msg = new TextEncoder().encode('path secret');

  it('ours seals, theirs opens', async () => {
    const kp = await reference.kem.generateKeyPair();
    const pkR = new Uint8Array(await reference.kem.serializePublicKey(kp.publicKey));
    const { ct, enc } = await hpke.seal(await hpke.importPublicKey(pkR), msg, info, aad);
    const opened = await reference.open({ recipientKey: kp.privateKey, enc: buf(enc), info: buf(info) }, buf(ct), buf(aad));
    expect(new Uint8Array(opened)).toEqual(msg);
  });

  it('theirs seals, ours opens', async () => {
    const { privateKey, publicKey } = await hpke.generateKeyPair();
    const pk = await reference.kem.deserializePublicKey(buf(await hpke.exportPublicKey(publicKey)));
    const sealed = await reference.seal({ recipientPublicKey: pk, info: buf(info) }, buf(msg), buf(aad));
    expect(await hpke.open(privateKey, new Uint8Array(sealed.enc), new Uint8Array(sealed.ct), info, aad)).toEqual(msg);
  });

  it('exported secrets agree both ways', async () => {
    const ctx = new TextEncoder().encode('MLS 1.0 external init secret');
    const ours = await hpke.generateKeyPair();
    const theirPk = await reference.kem.deserializePublicKey(buf(await hpke.exportPublicKey(ours.publicKey)));
    const sender = await reference.createSenderContext({ recipientPublicKey: theirPk, info: buf(info) });
    const theirSecret = new Uint8Array(await sender.export(buf(ctx), 32));
    expect(await hpke.importSecret(ours.privateKey, ctx, new Uint8Array(sender.enc), 32, info)).toEqual(theirSecret);

    const kp = await reference.kem.generateKeyPair();
    const pkR = new Uint8Array(await reference.kem.serializePublicKey(kp.publicKey));
    const mine = await hpke.exportSecret(await hpke.importPublicKey(pkR), ctx, 32, info);
    const recipient = await reference.createRecipientContext({ recipientKey: kp.privateKey, enc: buf(mine.enc), info: buf(info) });
    expect(new Uint8Array(await recipient.export(buf(ctx), 32))).toEqual(mine.secret);
  });

  it('deriveKeyPair matches theirs', async () => {
    const ikm = p.random(32);
    const ours = await hpke.deriveKeyPair(ikm);
    const theirs = await reference.kem.deriveKeyPair(buf(ikm));
    expect(await hpke.exportPublicKey(ours.publicKey)).toEqual(new Uint8Array(await reference.kem.serializePublicKey(theirs.publicKey)));
    expect(await hpke.exportPrivateKey(ours.privateKey)).toEqual(new Uint8Array(await reference.kem.serializePrivateKey(theirs.privateKey)));
  });
});
