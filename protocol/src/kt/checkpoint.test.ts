import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { KtError, verifyAppendOnly, verifyCheckpoint, type KtErrorCode } from './checkpoint.js';
import { cosign, cosignatureVkey } from './cosignature.js';
import { EMPTY_ROOT, leafHash } from './hash.js';
import { consistencyProof, rootFromLeafHashes } from './merkle.js';
import { ed25519Vkey, formatCheckpoint, formatNote, parseCheckpoint, signNote, type NoteSignature } from './note.js';
import { PolicySchema, type Policy } from './policy.js';

function keyPair() {
  const seed = ed25519.utils.randomSecretKey();
  return { seed, publicKey: ed25519.getPublicKey(seed) };
}

const ORIGIN = 'agora/o_test';
const LOG_NAME = 'agora/o_test';
const log = keyPair();
const [a, b, c] = [keyPair(), keyPair(), keyPair()];
const NOW = 1_760_000_000_000; // ms
const T = NOW / 1000; // s

const witness = (label: string, name: string, key: { publicKey: Uint8Array }) => ({ name: label, vkey: cosignatureVkey(name, key.publicKey) });

function policy(overrides: Partial<Policy> = {}): Policy {
  return PolicySchema.parse({
    log: { origin: ORIGIN, vkey: ed25519Vkey(LOG_NAME, log.publicKey) },
    witnesses: [witness('Witness A', 'a.example/w', a), witness('Witness B', 'b.example/w', b), witness('Witness C', 'c.example/w', c)],
    quorum: 2,
    maxCheckpointAgeSeconds: 3600,
    ...overrides,
  });
}

const leaves = Array.from({ length: 9 }, (_, i) => leafHash(Uint8Array.of(i)));
const body = (size = 5, origin = ORIGIN) => formatCheckpoint({ origin, size, root: rootFromLeafHashes(leaves.slice(0, size)), extensions: [] });

type Cosigner = [name: string, key: { seed: Uint8Array }, timestamp: number];

function note(text: string, cosigners: Cosigner[], logSig: NoteSignature | null = signNote(text, LOG_NAME, log.seed)): string {
  const sigs = cosigners.map(([name, key, t]) => cosign(text, name, key.seed, t));
  return formatNote({ text, signatures: logSig ? [logSig, ...sigs] : sigs });
}

function code(fn: () => unknown): KtErrorCode | 'none' {
  try {
    fn();
    return 'none';
  } catch (e) {
    if (e instanceof KtError) return e.code;
    throw e;
  }
}

describe('verifyCheckpoint', () => {
  it('accepts a log-signed checkpoint with a fresh quorum and reports the counted witnesses', () => {
    const text = body();
    const r = verifyCheckpoint(policy(), note(text, [['a.example/w', a, T - 60], ['b.example/w', b, T - 5]]), NOW);
    expect(r.checkpoint).toEqual(parseCheckpoint(text));
    expect(r.witnesses).toEqual(['Witness A', 'Witness B']);
    expect(r.note.text).toBe(text);
    const all = verifyCheckpoint(policy(), note(text, [['c.example/w', c, T], ['a.example/w', a, T], ['b.example/w', b, T]]), NOW);
    expect(all.witnesses).toEqual(['Witness A', 'Witness B', 'Witness C']);
  });

  it('quorum not met: one witness of two', () => {
    expect(code(() => verifyCheckpoint(policy(), note(body(), [['a.example/w', a, T]]), NOW))).toBe('quorum_not_met');
    expect(code(() => verifyCheckpoint(policy(), note(body(), []), NOW))).toBe('quorum_not_met');
  });

  it('the same witness twice counts once (repeated line, or two timestamps)', () => {
    const text = body();
    const line = cosign(text, 'a.example/w', a.seed, T);
    const twice = formatNote({ text, signatures: [signNote(text, LOG_NAME, log.seed), line, line] });
    expect(code(() => verifyCheckpoint(policy(), twice, NOW))).toBe('quorum_not_met');
    expect(code(() => verifyCheckpoint(policy(), note(text, [['a.example/w', a, T], ['a.example/w', a, T - 10]]), NOW))).toBe('quorum_not_met');
  });

  it('a witness listed twice in the policy counts once', () => {
    const p = policy({ witnesses: [witness('A', 'a.example/w', a), witness('A again', 'a.example/w', a), witness('B', 'b.example/w', b)] });
    expect(code(() => verifyCheckpoint(p, note(body(), [['a.example/w', a, T]]), NOW))).toBe('quorum_not_met');
    expect(verifyCheckpoint(p, note(body(), [['a.example/w', a, T], ['b.example/w', b, T]]), NOW).witnesses).toEqual(['A', 'B']);
  });

  it('one key under two names counts once (the relay could copy a line under another name)', () => {
    const p = policy({ witnesses: [witness('W1', 'w1.example', a), witness('W2', 'w2.example', a), witness('B', 'b.example/w', b)] });
    const text = body();
    expect(code(() => verifyCheckpoint(p, note(text, [['w1.example', a, T], ['w2.example', a, T]]), NOW))).toBe('quorum_not_met');
    expect(verifyCheckpoint(p, note(text, [['w1.example', a, T], ['w2.example', a, T], ['b.example/w', b, T]]), NOW).witnesses).toEqual(['W1', 'B']);
  });

  it('stale: cosignatures older than maxCheckpointAgeSeconds do not count (boundary included)', () => {
    const text = body();
    expect(verifyCheckpoint(policy(), note(text, [['a.example/w', a, T - 3600], ['b.example/w', b, T - 3600]]), NOW).witnesses).toHaveLength(2);
    expect(code(() => verifyCheckpoint(policy(), note(text, [['a.example/w', a, T - 3601], ['b.example/w', b, T]]), NOW))).toBe('stale');
    expect(code(() => verifyCheckpoint(policy(), note(text, [['a.example/w', a, T - 7200], ['b.example/w', b, T - 7200]]), NOW))).toBe('stale');
    // A single (stale) cosignature could not meet the quorum even if fresh: reported as "not met".
    expect(code(() => verifyCheckpoint(policy(), note(text, [['a.example/w', a, T - 7200]]), NOW))).toBe('quorum_not_met');
    // A stale witness does not block a quorum reached by fresh ones.
    expect(verifyCheckpoint(policy(), note(text, [['a.example/w', a, T - 7200], ['b.example/w', b, T], ['c.example/w', c, T]]), NOW).witnesses).toEqual([
      'Witness B',
      'Witness C',
    ]);
  });

  it('future timestamps: up to 60 s of clock skew is tolerated, more is not', () => {
    const text = body();
    expect(verifyCheckpoint(policy(), note(text, [['a.example/w', a, T + 60], ['b.example/w', b, T]]), NOW).witnesses).toHaveLength(2);
    expect(code(() => verifyCheckpoint(policy(), note(text, [['a.example/w', a, T + 61], ['b.example/w', b, T]]), NOW))).toBe('stale');
    expect(code(() => verifyCheckpoint(policy(), note(text, [['a.example/w', a, T + 86400], ['b.example/w', b, T + 86400]]), NOW))).toBe('stale');
  });

  it('wrong origin: a correctly signed checkpoint of another log is refused', () => {
    const text = body(5, 'agora/o_other');
    expect(code(() => verifyCheckpoint(policy(), note(text, [['a.example/w', a, T], ['b.example/w', b, T]]), NOW))).toBe('wrong_origin');
  });

  it('forged log signature: flipped bits, another key under the log name, or no log line at all', () => {
    const text = body();
    const good = signNote(text, LOG_NAME, log.seed);
    const flipped = { ...good, signature: good.signature.map((x, i) => (i === 5 ? x ^ 1 : x)) };
    const cos: Cosigner[] = [['a.example/w', a, T], ['b.example/w', b, T]];
    expect(code(() => verifyCheckpoint(policy(), note(text, cos, flipped), NOW))).toBe('bad_log_signature');
    const impostor = signNote(text, LOG_NAME, keyPair().seed); // same name, different key ID: an unknown key
    expect(code(() => verifyCheckpoint(policy(), note(text, cos, impostor), NOW))).toBe('bad_log_signature');
    // Forged by reusing the real key ID with another key's signature.
    const reusedId = { ...impostor, keyId: good.keyId };
    expect(code(() => verifyCheckpoint(policy(), note(text, cos, reusedId), NOW))).toBe('bad_log_signature');
    expect(code(() => verifyCheckpoint(policy(), note(text, cos, null), NOW))).toBe('bad_log_signature');
    // A valid log line does not excuse a second, forged one from the same key.
    const both = formatNote({ text, signatures: [good, { ...flipped, signature: flipped.signature.map((x, i) => (i === 9 ? x ^ 4 : x)) }] });
    expect(code(() => verifyCheckpoint(policy({ quorum: 0 }), both, NOW))).toBe('bad_log_signature');
    // The log's signature covers the body: changing the size after signing breaks it.
    const signed = note(text, cos);
    expect(code(() => verifyCheckpoint(policy(), signed.replace('\n5\n', '\n6\n'), NOW))).toBe('bad_log_signature');
  });

  it('unknown keys are ignored: they neither count nor break verification', () => {
    const text = body();
    const stranger = keyPair();
    // A stranger under an unlisted name, and a stranger impersonating witness A's name (other key ID).
    const n = note(text, [['a.example/w', a, T], ['stranger.example', stranger, T], ['b.example/w', stranger, T]]);
    expect(code(() => verifyCheckpoint(policy(), n, NOW))).toBe('quorum_not_met');
    const ok = note(text, [['a.example/w', a, T], ['stranger.example', stranger, T], ['b.example/w', b, T]]);
    expect(verifyCheckpoint(policy(), ok, NOW).witnesses).toEqual(['Witness A', 'Witness B']);
    // A plain (non-cosignature) Ed25519 signature by a witness key is a different key ID: ignored.
    const plain = signNote(text, 'b.example/w', b.seed);
    const withPlain = formatNote({ text, signatures: [signNote(text, LOG_NAME, log.seed), cosign(text, 'a.example/w', a.seed, T), plain] });
    expect(code(() => verifyCheckpoint(policy(), withPlain, NOW))).toBe('quorum_not_met');
  });

  it('a forged line from a policy witness rejects the note, as do cosignatures of another checkpoint', () => {
    const text = body();
    const good = cosign(text, 'b.example/w', b.seed, T);
    const forged = { ...good, signature: good.signature.map((x, i) => (i === 30 ? x ^ 1 : x)) };
    const n = formatNote({ text, signatures: [signNote(text, LOG_NAME, log.seed), cosign(text, 'a.example/w', a.seed, T), forged] });
    expect(code(() => verifyCheckpoint(policy(), n, NOW))).toBe('bad_witness_signature');
    // Cosignatures the witnesses made for size 4, attached to the size-5 checkpoint.
    const old = body(4);
    const replayed = formatNote({
      text,
      signatures: [signNote(text, LOG_NAME, log.seed), cosign(old, 'a.example/w', a.seed, T), cosign(old, 'b.example/w', b.seed, T)],
    });
    expect(code(() => verifyCheckpoint(policy(), replayed, NOW))).toBe('bad_witness_signature');
  });

  it('malformed notes and bodies', () => {
    expect(code(() => verifyCheckpoint(policy(), 'garbage', NOW))).toBe('malformed');
    expect(code(() => verifyCheckpoint(policy(), `${body()}\n`, NOW))).toBe('malformed');
    const notACheckpoint = 'hello\nworld\n';
    expect(code(() => verifyCheckpoint(policy({ quorum: 0 }), note(notACheckpoint, []), NOW))).toBe('malformed');
  });

  it('quorum 0 checks the log signature and origin only, with no freshness at all', () => {
    const p = policy({ quorum: 0 });
    const r = verifyCheckpoint(p, note(body(), []), NOW);
    expect(r.witnesses).toEqual([]);
    // Years later the same note is still accepted: this policy offers no freshness.
    expect(verifyCheckpoint(p, note(body(), []), NOW + 5 * 365 * 86400_000).checkpoint.size).toBe(5);
    expect(code(() => verifyCheckpoint(p, note(body(5, 'agora/x'), []), NOW))).toBe('wrong_origin');
  });

  it('error messages are plain words without keys, hashes or names', () => {
    try {
      verifyCheckpoint(policy(), note(body(), [['a.example/w', a, T]]), NOW);
      throw new Error('expected a KtError');
    } catch (e) {
      expect(e).toBeInstanceOf(KtError);
      const msg = (e as KtError).message;
      expect(msg).toMatch(/witnesses/);
      expect(msg).not.toMatch(/[A-Za-z0-9+/]{20,}|example|agora\//);
    }
  });
});

describe('verifyAppendOnly', () => {
  const roots = Array.from({ length: 10 }, (_, n) => rootFromLeafHashes(leaves.slice(0, n)));
  const cp = (size: number, root = roots[size]) => ({ origin: ORIGIN, size, root, extensions: [] });

  it('accepts a proven extension and an identical checkpoint', () => {
    verifyAppendOnly({ size: 5, root: roots[5] }, cp(9), consistencyProof(leaves, 5, 9));
    verifyAppendOnly({ size: 5, root: roots[5] }, cp(5), []);
    verifyAppendOnly({ size: 0, root: EMPTY_ROOT }, cp(3), []);
    verifyAppendOnly({ size: 0, root: EMPTY_ROOT }, cp(0), []);
  });

  it('rollback, fork, rewritten history and bad proofs are each reported', () => {
    expect(code(() => verifyAppendOnly({ size: 5, root: roots[5] }, cp(3), []))).toBe('rollback');
    expect(code(() => verifyAppendOnly({ size: 5, root: roots[5] }, cp(5, roots[4]), []))).toBe('fork');
    expect(code(() => verifyAppendOnly({ size: 5, root: roots[5] }, cp(5), [roots[1]]))).toBe('inconsistent');
    // History rewritten: leaf 2 replaced, tree regrown to 9; no proof from the stored size-5 root can exist.
    const rewritten = leaves.map((l, i) => (i === 2 ? leafHash(Uint8Array.of(0xee)) : l));
    const forged = rootFromLeafHashes(rewritten);
    expect(code(() => verifyAppendOnly({ size: 5, root: roots[5] }, cp(9, forged), consistencyProof(rewritten, 5, 9)))).toBe('inconsistent');
    expect(code(() => verifyAppendOnly({ size: 5, root: roots[5] }, cp(9), consistencyProof(leaves, 4, 9)))).toBe('inconsistent');
    expect(code(() => verifyAppendOnly({ size: 5, root: roots[5] }, cp(9), []))).toBe('inconsistent');
    expect(code(() => verifyAppendOnly({ size: 0, root: roots[1] }, cp(3), []))).toBe('inconsistent');
    expect(code(() => verifyAppendOnly({ size: 0, root: EMPTY_ROOT }, cp(3), [roots[1]]))).toBe('inconsistent');
  });
});
