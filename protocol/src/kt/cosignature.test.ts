import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromUtf8 } from '../encoding.js';
import { cosign, cosignatureKeyId, cosignatureMessage, cosignatureTimestamp, cosignatureVkey, verifyCosignature } from './cosignature.js';
import { NoteError, ed25519KeyId, ed25519Verifier, formatNote, formatSignatureLine, openNote, parseNote, parseVkey, signNote } from './note.js';

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

// c2sp.org/tlog-cosignature: the example checkpoint with a witness cosignature, and the example
// signed message, whose "time" line is the timestamp carried in that cosignature.
const BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_NOTE =
  `${BODY}\n` +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n' +
  '— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n';
const SPEC_MESSAGE = 'cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

// transparency-dev/formats note_cosigv1_test.go: a deployed witness's type-0x04 vkey, and
// cosignature/v1 signature bytes whose timestamp is 1727964367 (plus a plain Ed25519 one that is not).
const REMORA_VKEY = 'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2';
const FORMATS_COSIG = 'ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==';
const FORMATS_PLAIN = 'eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=';

function sigFromLine(name: string, b64: string) {
  return parseNote(`x\n\n— ${name} ${b64}\n`).signatures[0];
}

describe('cosignature/v1 published values', () => {
  it('computes key IDs with type byte 0x04 (a deployed witness vkey re-encodes exactly)', () => {
    const k = parseVkey(REMORA_VKEY);
    expect(k.type).toBe(4);
    expect(hexOf(k.keyId)).toBe('da77ade7');
    expect(cosignatureKeyId(k.name, k.publicKey)).toEqual(k.keyId);
    expect(cosignatureVkey(k.name, k.publicKey)).toBe(REMORA_VKEY);
    expect(ed25519KeyId(k.name, k.publicKey)).not.toEqual(k.keyId);
  });

  it('reads the timestamps of the published cosignatures', () => {
    const spec = parseNote(SPEC_NOTE).signatures[1];
    expect(spec.signature).toHaveLength(72);
    expect(cosignatureTimestamp(spec)).toBe(1679315147);
    expect(cosignatureTimestamp(sigFromLine('w', FORMATS_COSIG))).toBe(1727964367);
    expect(cosignatureTimestamp(sigFromLine('w', FORMATS_PLAIN))).toBeUndefined();
  });

  it('builds the signed message exactly as the spec example', () => {
    expect(fromUtf8(cosignatureMessage(BODY, 1679315147))).toBe(SPEC_MESSAGE);
    expect(fromUtf8(cosignatureMessage(`${BODY}ext\n`, 0))).toBe(`cosignature/v1\ntime 0\n${BODY}ext\n`);
  });
});

describe('cosign / verifyCosignature', () => {
  const seed = ed25519.utils.randomSecretKey();
  const publicKey = ed25519.getPublicKey(seed);
  const witness = { name: 'witness.example/officer', publicKey };
  const T = 1_760_000_000;

  it('round-trips and the signature is u64be(T) ‖ Ed25519(message)', () => {
    const sig = cosign(BODY, witness.name, seed, T);
    expect(sig.keyId).toEqual(cosignatureKeyId(witness.name, publicKey));
    expect(sig.signature).toHaveLength(72);
    expect(ed25519.verify(sig.signature.subarray(8), cosignatureMessage(BODY, T), publicKey)).toBe(true);
    expect(verifyCosignature(BODY, sig, witness)).toEqual({ timestamp: T });
    // The line survives formatting into a note and parsing back.
    const again = parseNote(`${BODY}\n${formatSignatureLine(sig)}`).signatures[0];
    expect(verifyCosignature(BODY, again, witness)).toEqual({ timestamp: T });
  });

  it('rejects any change to body, timestamp, signature, key or name', () => {
    const sig = cosign(BODY, witness.name, seed, T);
    expect(verifyCosignature(BODY.replace('20852163', '20852164'), sig, witness)).toBeUndefined();
    expect(verifyCosignature(BODY.replace('CsUY', 'CsUZ'), sig, witness)).toBeUndefined();
    expect(verifyCosignature(`${BODY}extension\n`, sig, witness)).toBeUndefined();
    expect(verifyCosignature(BODY.replace('behind', 'under'), sig, witness)).toBeUndefined();
    for (const i of [0, 7, 8, 40, 71]) {
      const s = sig.signature.slice();
      s[i] ^= 1;
      expect(verifyCosignature(BODY, { ...sig, signature: s }, witness)).toBeUndefined();
    }
    expect(verifyCosignature(BODY, { ...sig, signature: sig.signature.slice(0, 71) }, witness)).toBeUndefined();
    const other = ed25519.getPublicKey(ed25519.utils.randomSecretKey());
    expect(verifyCosignature(BODY, sig, { ...witness, publicKey: other })).toBeUndefined();
    expect(verifyCosignature(BODY, sig, { ...witness, name: 'witness.example/other' })).toBeUndefined();
    expect(verifyCosignature(BODY, { ...sig, keyId: new Uint8Array(4) }, witness)).toBeUndefined();
    expect(verifyCosignature('not a checkpoint\n', sig, witness)).toBeUndefined();
  });

  it('the signed message does not name the witness: a line renamed with a recomputed key ID still verifies', () => {
    // This is why verifyCheckpoint counts public keys, never names.
    const sig = cosign(BODY, witness.name, seed, T);
    const renamed = { ...sig, name: 'someone.else', keyId: cosignatureKeyId('someone.else', publicKey) };
    expect(verifyCosignature(BODY, renamed, { name: 'someone.else', publicKey })).toEqual({ timestamp: T });
  });

  it('is not interchangeable with a plain Ed25519 note signature by the same key', () => {
    const plain = signNote(BODY, witness.name, seed);
    expect(verifyCosignature(BODY, plain, witness)).toBeUndefined();
    const co = cosign(BODY, witness.name, seed, T);
    expect(() => openNote(`${BODY}\n${formatSignatureLine(co)}`, [ed25519Verifier(witness.name, publicKey)])).toThrow('no verifiable signatures');
    // Even forced under the plain key ID, the cosignature does not verify as a note signature.
    const forced = { ...co, keyId: ed25519KeyId(witness.name, publicKey) };
    expect(() => openNote(formatNote({ text: BODY, signatures: [forced] }), [ed25519Verifier(witness.name, publicKey)])).toThrow('invalid signature');
  });

  it('refuses out-of-range timestamps, bad names, seeds and bodies', () => {
    for (const t of [-1, 1.5, 2 ** 53, Number.NaN]) expect(() => cosign(BODY, witness.name, seed, t)).toThrow(NoteError);
    expect(() => cosign(BODY, 'bad name', seed, T)).toThrow(NoteError);
    expect(() => cosign(BODY, witness.name, seed.slice(1), T)).toThrow(NoteError);
    expect(() => cosign('origin\n1\n', witness.name, seed, T)).toThrow(NoteError);
    // A timestamp beyond 2^53 − 1 in the bytes is not read as an inexact number.
    const sig = cosign(BODY, witness.name, seed, T);
    const s = sig.signature.slice();
    s[0] = 0x7f;
    expect(cosignatureTimestamp({ ...sig, signature: s })).toBeUndefined();
    expect(verifyCosignature(BODY, { ...sig, signature: s }, witness)).toBeUndefined();
  });
});
