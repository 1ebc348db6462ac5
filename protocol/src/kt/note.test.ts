import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { utf8 } from '../encoding.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import {
  NoteError,
  ed25519KeyId,
  ed25519Skey,
  ed25519Verifier,
  ed25519Vkey,
  formatCheckpoint,
  formatNote,
  formatSignatureLine,
  isValidKeyName,
  openNote,
  parseCheckpoint,
  parseNote,
  parseSkey,
  parseVkey,
  signNote,
  verifierFromVkey,
} from './note.js';

const hexOf = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

// golang.org/x/mod/sumdb/note: the package documentation and note_test.go.
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG = '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

// c2sp.org/signed-note: the verifier-key example.
const FOO_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const FOO_NOTE =
  'This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';
// c2sp.org/signed-note: the opening example (no key published; a parse/format case with non-ASCII text).
const QUASIMODO_NOTE =
  'Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n';

// c2sp.org/tlog-checkpoint: the example checkpoint. Its signature line is a real sum.golang.org
// signature over the Go checksum database's own checkpoint of the same size and root, whose origin
// the spec replaced: it verifies for "go.sum database tree" and must not for the renamed body.
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const C2SP_CHECKPOINT_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SUMDB_LINE = '— sum.golang.org Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';

describe('base64 (RFC 4648 §4, canonical only)', () => {
  it('round-trips every length and refuses non-canonical spellings', () => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 0xff);
      const text = encodeBase64(bytes);
      expect(decodeBase64(text)).toEqual(bytes);
    }
    expect(decodeBase64('AA==')).toEqual(new Uint8Array([0]));
    for (const bad of ['AB==', 'AAB=', 'AA', 'AA=', 'A===', '====', 'AA==AA==', '-_==', 'AA A', 'AA==\n', 'ÀA==']) {
      expect(decodeBase64(bad)).toBeUndefined();
    }
  });
});

describe('verifier keys', () => {
  it('parses the published PeterNeumann vkey and re-encodes it byte for byte', () => {
    const k = parseVkey(PETER_VKEY);
    expect(k.name).toBe('PeterNeumann');
    expect(hexOf(k.keyId)).toBe('c74f20a3');
    expect(k.type).toBe(1);
    expect(ed25519KeyId(k.name, k.publicKey)).toEqual(k.keyId);
    expect(ed25519Vkey(k.name, k.publicKey)).toBe(PETER_VKEY);
    expect(ed25519Vkey('example.com/foo', parseVkey(FOO_VKEY).publicKey)).toBe(FOO_VKEY);
    expect(ed25519Vkey('sum.golang.org', parseVkey(SUMDB_VKEY).publicKey)).toBe(SUMDB_VKEY);
  });

  it('rejects every substring and every single-character mangling of it (sumdb/note TestNewVerifier)', () => {
    const accepted: string[] = [];
    for (let i = 0; i <= PETER_VKEY.length; i++) {
      for (let j = i + 1; j <= PETER_VKEY.length; j++) {
        if (i === 0 && j === PETER_VKEY.length) continue;
        const k = PETER_VKEY.slice(i, j);
        try {
          parseVkey(k);
          accepted.push(k);
        } catch (e) {
          expect(e).toBeInstanceOf(NoteError);
        }
      }
    }
    for (let i = 0; i < PETER_VKEY.length; i++) {
      const k = PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1);
      try {
        parseVkey(k);
        accepted.push(k);
      } catch (e) {
        expect(e).toBeInstanceOf(NoteError);
      }
    }
    expect(accepted).toEqual([]);
    // Wrong key length and unknown algorithm, each with a key ID adjusted to match (note_test.go).
    expect(() => parseVkey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')).toThrow(NoteError);
    expect(() => parseVkey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(NoteError);
  });

  it('parses the published PeterNeumann signer key; its manglings are rejected (TestNewSigner)', () => {
    const s = parseSkey(PETER_SKEY);
    expect(s.name).toBe('PeterNeumann');
    expect(hexOf(s.keyId)).toBe('c74f20a3');
    expect(s.publicKey).toEqual(parseVkey(PETER_VKEY).publicKey);
    expect(ed25519Skey('PeterNeumann', s.seed)).toBe(PETER_SKEY);
    const accepted: string[] = [];
    const attempt = (k: string) => {
      try {
        parseSkey(k);
        accepted.push(k);
      } catch (e) {
        expect(e).toBeInstanceOf(NoteError);
      }
    };
    for (let i = 0; i <= PETER_SKEY.length; i++) {
      for (let j = i + 1; j <= PETER_SKEY.length; j++) if (i !== 0 || j !== PETER_SKEY.length) attempt(PETER_SKEY.slice(i, j));
    }
    for (let i = 0; i < PETER_SKEY.length; i++) {
      attempt(PETER_SKEY.slice(0, i) + String.fromCharCode(PETER_SKEY.charCodeAt(i) + 1) + PETER_SKEY.slice(i + 1));
    }
    expect(accepted).toEqual([]);
  });

  it('refuses uppercase hex, other signature types, and bad names', () => {
    expect(() => parseVkey(PETER_VKEY.replace('c74f20a3', 'C74F20A3'))).toThrow(NoteError);
    expect(isValidKeyName('a+b')).toBe(false);
    expect(isValidKeyName('a b')).toBe(false);
    expect(isValidKeyName('a\u00a0b')).toBe(false); // no-break space is a Unicode space
    expect(isValidKeyName('a\u2003b')).toBe(false);
    expect(isValidKeyName('')).toBe(false);
    expect(isValidKeyName('example.com/log-1')).toBe(true);
    const pub = parseVkey(PETER_VKEY).publicKey;
    expect(() => ed25519Vkey('bad name', pub)).toThrow(NoteError);
    expect(() => ed25519Vkey('ok', pub.slice(1))).toThrow(NoteError);
  });
});

describe('signed notes', () => {
  const peter = verifierFromVkey(PETER_VKEY);
  const enoch = verifierFromVkey(ENOCH_VKEY);

  it('signs the sumdb/note example exactly as published (Ed25519 is deterministic)', () => {
    const { seed } = parseSkey(PETER_SKEY);
    const sig = signNote(TEXT, 'PeterNeumann', seed);
    expect(formatSignatureLine(sig)).toBe(PETER_SIG);
    expect(formatNote({ text: TEXT, signatures: [sig] })).toBe(`${TEXT}\n${PETER_SIG}`);
  });

  it('verifies the published notes (sumdb/note, c2sp.org/signed-note) and rejects a changed text', () => {
    const { verified } = openNote(`${TEXT}\n${PETER_SIG}`, [peter]);
    expect(verified.map((s) => s.name)).toEqual(['PeterNeumann']);
    expect(openNote(FOO_NOTE, [verifierFromVkey(FOO_VKEY)]).note.text).toBe('This is an example message.\n');
    expect(() => openNote(`${TEXT.replace('cryptography', 'cryptographY')}\n${PETER_SIG}`, [peter])).toThrow(NoteError);
  });

  it('follows sumdb/note Open on known, unknown, duplicated and ambiguous keys (TestOpen)', () => {
    const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    let r = openNote(both, [peter]);
    expect(r.verified.map((s) => s.name)).toEqual(['PeterNeumann']);
    expect(r.note.signatures).toHaveLength(2);
    r = openNote(both, [peter, enoch]);
    expect(r.verified.map((s) => s.name)).toEqual(['PeterNeumann', 'EnochRoot']);
    expect(() => openNote(both, [])).toThrow('no verifiable signatures');
    expect(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch, peter, enoch])).toThrow('ambiguous');
    expect(openNote(`${TEXT}\n${PETER_SIG}`, [enoch, peter, enoch]).verified).toHaveLength(1);
    expect(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [peter])).toThrow('malformed');
    expect(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [])).toThrow('malformed');
    const inserted = (line: string) => `${line.slice(0, 60)}ABCD${line.slice(60)}`;
    expect(() => openNote(`${TEXT}\n${inserted(PETER_SIG)}`, [peter])).toThrow('invalid signature');
    // Repeated lines from one key are checked once; unknown keys are ignored even if garbled.
    r = openNote(`${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${inserted(ENOCH_SIG)}`, [peter]);
    expect(r.verified).toHaveLength(1);
    // A line that matches the name but not the key ID is an unknown key, not a failure.
    const wrongId = PETER_SIG.replace('x08go', 'x08gp');
    expect(() => openNote(`${TEXT}\n${wrongId}`, [peter])).toThrow('no verifiable signatures');
  });

  it('rejects the malformed messages of sumdb/note TestOpen', () => {
    const bad = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\u0001${TEXT}\n${PETER_SIG}`,
      `\uD800${TEXT}\n${PETER_SIG}`, // Go uses the invalid UTF-8 byte 0xff; a JS string's equivalent is a lone surrogate
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
    ];
    for (const msg of bad) {
      expect(() => parseNote(msg)).toThrow(NoteError);
      expect(() => openNote(msg, [peter])).toThrow(NoteError);
    }
  });

  it('rejects other malformed signature blocks', () => {
    const bad = [
      `${TEXT}\n${PETER_SIG}\n`, // trailing blank line: the signature block becomes empty
      `${TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
      `${TEXT}\n—  PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
      `${TEXT}\n— PeterNeumann\n`,
      `${TEXT}\n— PeterNeumann \n`,
      `${TEXT}\n— PeterNeumann AAAAAA==\n`, // 4 bytes: a key ID with no signature
      `${TEXT}\n— Peter+Neumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
      `${TEXT}\n${PETER_SIG.replace('AM=', 'AN=')}`, // non-canonical base64
      `${TEXT}\n${PETER_SIG.replace('\n', '\r\n')}`,
      `${TEXT.replace('\n', '\t\n')}\n${PETER_SIG}`,
    ];
    for (const msg of bad) expect(() => parseNote(msg)).toThrow(NoteError);
  });

  it('separates text from signatures at the LAST blank line and round-trips byte for byte', () => {
    for (const note of [`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, FOO_NOTE, QUASIMODO_NOTE, `${C2SP_CHECKPOINT_BODY}\n${SUMDB_LINE}`]) {
      expect(formatNote(parseNote(note))).toBe(note);
    }
    const q = parseNote(QUASIMODO_NOTE);
    expect(q.text).toBe('Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n');
    expect(q.signatures[0].name).toBe('quasimodo.example/salvatore');
    expect(q.signatures[0].signature).toHaveLength(64);
  });

  it('formatNote refuses what parseNote would refuse', () => {
    const sig = parseNote(`${TEXT}\n${PETER_SIG}`).signatures[0];
    expect(() => formatNote({ text: 'no newline', signatures: [sig] })).toThrow(NoteError);
    expect(() => formatNote({ text: TEXT, signatures: [] })).toThrow(NoteError);
    expect(() => formatNote({ text: TEXT, signatures: [{ ...sig, name: 'a b' }] })).toThrow(NoteError);
    expect(() => formatNote({ text: TEXT, signatures: [{ ...sig, keyId: new Uint8Array(3) }] })).toThrow(NoteError);
    expect(() => formatNote({ text: `a\u0000\n`, signatures: [sig] })).toThrow(NoteError);
  });

  it('signs and verifies with fresh keys; a flipped bit anywhere fails', () => {
    const seed = ed25519.utils.randomSecretKey();
    const pub = ed25519.getPublicKey(seed);
    const v = ed25519Verifier('example.com/log', pub);
    const sig = signNote(TEXT, 'example.com/log', seed);
    expect(sig.keyId).toEqual(v.keyId);
    expect(v.verify(utf8(TEXT), sig.signature)).toBe(true);
    for (let i = 0; i < 64; i += 7) {
      const s = sig.signature.slice();
      s[i] ^= 0x10;
      expect(v.verify(utf8(TEXT), s)).toBe(false);
    }
    expect(v.verify(utf8(TEXT.replace('If', 'if')), sig.signature)).toBe(false);
    expect(v.verify(utf8(TEXT), sig.signature.slice(0, 63))).toBe(false);
    expect(() => signNote('no final newline', 'example.com/log', seed)).toThrow(NoteError);
  });
});

describe('checkpoints (c2sp.org/tlog-checkpoint)', () => {
  it('parses and re-formats the C2SP example', () => {
    const c = parseCheckpoint(C2SP_CHECKPOINT_BODY);
    expect(c.origin).toBe('example.com/behind-the-sofa');
    expect(c.size).toBe(20852163);
    expect(hexOf(c.root)).toBe(hexOf(decodeBase64('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=')!));
    expect(c.extensions).toEqual([]);
    expect(formatCheckpoint(c)).toBe(C2SP_CHECKPOINT_BODY);
    const withExt = `${C2SP_CHECKPOINT_BODY}ext one\n— not a signature\n`;
    expect(parseCheckpoint(withExt).extensions).toEqual(['ext one', '— not a signature']);
    expect(formatCheckpoint(parseCheckpoint(withExt))).toBe(withExt);
  });

  it("the example's signature is sum.golang.org's over the original body, not over the renamed one", () => {
    const sumdb = verifierFromVkey(SUMDB_VKEY);
    const original = C2SP_CHECKPOINT_BODY.replace('example.com/behind-the-sofa', 'go.sum database tree');
    expect(openNote(`${original}\n${SUMDB_LINE}`, [sumdb]).verified).toHaveLength(1);
    expect(() => openNote(`${C2SP_CHECKPOINT_BODY}\n${SUMDB_LINE}`, [sumdb])).toThrow('invalid signature');
  });

  it('refuses malformed bodies', () => {
    const root = 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=';
    const bad = [
      '',
      'origin\n5\n',
      `origin\n5\n${root}`, // no final newline
      `\n5\n${root}\n`,
      `origin\n05\n${root}\n`,
      `origin\n-5\n${root}\n`,
      `origin\n+5\n${root}\n`,
      `origin\n0x5\n${root}\n`,
      `origin\n5 \n${root}\n`,
      `origin\n9007199254740992\n${root}\n`, // 2^53
      `origin\n5\n${root.slice(0, -4)}\n`, // 30-byte root
      `origin\n5\n${root.replace('2I=', '2J=')}\n`, // non-canonical base64
      `origin\n5\n${root}\n\n`, // empty extension line
      `origin\n5\n${root}\next\n\nmore\n`,
      `ori\tgin\n5\n${root}\n`,
    ];
    for (const body of bad) expect(() => parseCheckpoint(body)).toThrow(NoteError);
    expect(parseCheckpoint(`origin\n0\n${root}\n`).size).toBe(0);
    expect(parseCheckpoint(`origin\n9007199254740991\n${root}\n`).size).toBe(2 ** 53 - 1);
  });

  it('formatCheckpoint refuses fields that would not parse back', () => {
    const root = new Uint8Array(32);
    expect(() => formatCheckpoint({ origin: '', size: 1, root, extensions: [] })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'a\nb', size: 1, root, extensions: [] })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'a', size: -1, root, extensions: [] })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'a', size: 1.5, root, extensions: [] })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'a', size: 1, root: root.slice(1), extensions: [] })).toThrow(NoteError);
    expect(() => formatCheckpoint({ origin: 'a', size: 1, root, extensions: [''] })).toThrow(NoteError);
    expect(formatCheckpoint({ origin: 'agora/o_x', size: 0, root, extensions: [] })).toBe(`agora/o_x\n0\n${encodeBase64(root)}\n`);
  });
});
