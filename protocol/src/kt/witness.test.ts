import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromB64u, toB64u } from '../encoding.js';
import { KtError, verifyCheckpoint, type KtErrorCode } from './checkpoint.js';
import { verifyCosignature } from './cosignature.js';
import { parseNote, parseVkey } from './note.js';
import { PolicySchema } from './policy.js';
import { TestLog } from './test-log.js';
import { WitnessStateSchema, newWitnessKey, witnessStep, witnessVkey, type WitnessKey, type WitnessState, type WitnessStep } from './witness.js';

const NOW = 1_760_000_000_789;
const KEY_NAME = 'witness.example/officer';

/** A log of 6 entries (Alice, Bob) that grows to 11 (Bob's second device, Carol). */
function growingLog(): { log: TestLog; grow: () => void } {
  const log = new TestLog();
  const alice = log.bootstrap();
  const bob = log.invitePerson(alice, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
  return {
    log,
    grow: () => {
      log.linkDevice(bob, 'u_bob', 'd_bob2');
      log.invitePerson(alice, { userId: 'u_carol', name: 'Carol', deviceId: 'd_carol1' });
    },
  };
}

function witnessPublicKey(key: WitnessKey): Uint8Array {
  return ed25519.getPublicKey(fromB64u(key.seed));
}

/** The cosignature line checked as a verifier would: against the checkpoint body, with the witness's key. */
function checkCosignature(key: WitnessKey, noteText: string, line: string): { timestamp: number } | undefined {
  const note = parseNote(noteText + line);
  const sig = note.signatures.at(-1)!;
  return verifyCosignature(note.text, sig, { name: key.name, publicKey: witnessPublicKey(key) });
}

/** Runs a witness step that must fail: its KtError code, and that no cosignature came out. */
function refused(step: () => WitnessStep): KtErrorCode {
  let out: WitnessStep | undefined;
  try {
    out = step();
  } catch (e) {
    if (e instanceof KtError) return e.code;
    throw e;
  }
  throw new Error(`expected a KtError, the witness cosigned ${out.cosignature}`);
}

describe('witness keys', () => {
  it('a key is a random seed under a valid key name; its vkey is a cosignature/v1 key', () => {
    const key = newWitnessKey(KEY_NAME);
    expect(key.format).toBe('agora-witness-key-v1');
    expect(fromB64u(key.seed)).toHaveLength(32);
    expect(newWitnessKey(KEY_NAME).seed).not.toBe(key.seed);
    const vkey = parseVkey(witnessVkey(key));
    expect(vkey).toMatchObject({ name: KEY_NAME, type: 0x04, publicKey: witnessPublicKey(key) });
    for (const bad of ['', 'has space', 'a+b']) {
      expect(() => newWitnessKey(bad)).toThrow(KtError);
    }
  });
});

describe('witnessStep', () => {
  it('first contact pins the log key and cosigns; the cosignature verifies and counts toward a policy quorum', () => {
    const { log } = growingLog();
    const key = newWitnessKey(KEY_NAME);
    const note = log.checkpoint();
    const step = witnessStep({ key, previous: null, logVkey: log.vkey, noteText: note, consistencyProof: [], nowMs: NOW });
    expect(step.state).toEqual({ origin: log.origin, logVkey: log.vkey, size: 6, root: toB64u(log.root()), note });
    expect(WitnessStateSchema.parse(JSON.parse(JSON.stringify(step.state)))).toEqual(step.state);
    expect(step.cosignature).toMatch(/^\u2014 witness\.example\/officer [A-Za-z0-9+/]+=*\n$/);
    expect(checkCosignature(key, note, step.cosignature)).toEqual({ timestamp: Math.floor(NOW / 1000) });
    // it is a cosignature of this body only
    expect(checkCosignature(key, log.checkpoint(5), step.cosignature)).toBeUndefined();

    const policy = PolicySchema.parse({
      log: { origin: log.origin, vkey: log.vkey },
      witnesses: [{ name: 'Security officer', vkey: witnessVkey(key) }],
      quorum: 1,
      maxCheckpointAgeSeconds: 600,
    });
    expect(verifyCheckpoint(policy, note + step.cosignature, NOW).witnesses).toEqual(['Security officer']);
    expect(() => verifyCheckpoint(policy, note, NOW)).toThrow(KtError);
  });

  it('an extension with a valid consistency proof is cosigned, and the new state replaces the old', () => {
    const { log, grow } = growingLog();
    const key = newWitnessKey(KEY_NAME);
    const first = witnessStep({ key, previous: null, logVkey: log.vkey, noteText: log.checkpoint(), consistencyProof: [], nowMs: NOW });
    grow();
    expect(log.size).toBe(11);
    const note = log.checkpoint();
    const next = witnessStep({ key, previous: first.state, logVkey: log.vkey, noteText: note, consistencyProof: log.consistency(6), nowMs: NOW + 5000 });
    expect(next.state).toEqual({ origin: log.origin, logVkey: log.vkey, size: 11, root: toB64u(log.root()), note });
    expect(checkCosignature(key, note, next.cosignature)).toEqual({ timestamp: Math.floor((NOW + 5000) / 1000) });
    // the same checkpoint again (no growth) is cosigned again with an empty proof
    const again = witnessStep({ key, previous: next.state, logVkey: log.vkey, noteText: note, consistencyProof: [], nowMs: NOW + 9000 });
    expect(again.state.size).toBe(11);
    expect(checkCosignature(key, note, again.cosignature)).toEqual({ timestamp: Math.floor((NOW + 9000) / 1000) });
  });

  describe('refusals', () => {
    function seen(): { log: TestLog; key: WitnessKey; at6: WitnessState; at11: WitnessState; grow: () => void } {
      const { log, grow } = growingLog();
      const key = newWitnessKey(KEY_NAME);
      const at6 = witnessStep({ key, previous: null, logVkey: log.vkey, noteText: log.checkpoint(), consistencyProof: [], nowMs: NOW }).state;
      grow();
      const at11 = witnessStep({ key, previous: at6, logVkey: log.vkey, noteText: log.checkpoint(), consistencyProof: log.consistency(6), nowMs: NOW }).state;
      return { log, key, at6, at11, grow };
    }

    it('rollback: a correctly signed older checkpoint after a newer one', () => {
      const { log, key, at11 } = seen();
      expect(refused(() => witnessStep({ key, previous: at11, logVkey: log.vkey, noteText: log.checkpoint(6), consistencyProof: [], nowMs: NOW }))).toBe('rollback');
    });

    it('fork: the same size with another root, signed with the log key', () => {
      const { log, key, at6 } = seen();
      // another history of 6 entries (other people, other keys) under the same log key
      const other = new TestLog();
      const a = other.bootstrap();
      other.invitePerson(a, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
      expect(other.size).toBe(6);
      const forked = other.checkpoint(6, { seed: log.logSeed });
      expect(refused(() => witnessStep({ key, previous: at6, logVkey: log.vkey, noteText: forked, consistencyProof: [], nowMs: NOW }))).toBe('fork');
    });

    it('inconsistent: a tampered proof, a missing proof, a proof from another size, a rewritten history', () => {
      const { log, key, at6 } = seen();
      const note = log.checkpoint();
      const step = (proof: Uint8Array[]) => () => witnessStep({ key, previous: at6, logVkey: log.vkey, noteText: note, consistencyProof: proof, nowMs: NOW });
      const tampered = log.consistency(6).map((h, i) => (i === 1 ? h.map((x, j) => (j === 0 ? x ^ 1 : x)) : h));
      expect(refused(step(tampered))).toBe('inconsistent');
      expect(refused(step([]))).toBe('inconsistent');
      expect(refused(step(log.consistency(5)))).toBe('inconsistent');
      expect(refused(step(log.consistency(6).slice(1)))).toBe('inconsistent');

      // The relay rewrites entry 4 (Bob's device) and regrows to 11 entries, signing with its key.
      const rewritten = new TestLog();
      rewritten.appendBytes(log.entries[0]);
      rewritten.appendBytes(log.entries[1]);
      rewritten.appendBytes(log.entries[2]);
      const a = log.device('d_alice1');
      rewritten.invitePerson(a, { userId: 'u_bob', name: 'Bob', deviceId: 'd_bob1' });
      while (rewritten.size < 11) rewritten.snapshot();
      const forgedNote = rewritten.checkpoint(11, { seed: log.logSeed });
      expect(
        refused(() => witnessStep({ key, previous: at6, logVkey: log.vkey, noteText: forgedNote, consistencyProof: rewritten.consistency(6), nowMs: NOW })),
      ).toBe('inconsistent');
    });

    it('wrong origin: a checkpoint of another log signed with the same key', () => {
      const { log, key, at11, grow } = seen();
      grow();
      const note = log.checkpoint(log.size, { origin: 'agora/o_other' });
      expect(
        refused(() => witnessStep({ key, previous: at11, logVkey: log.vkey, noteText: note, consistencyProof: log.consistency(11), nowMs: NOW })),
      ).toBe('wrong_origin');
    });

    it('a note not signed by the pinned log key', () => {
      const { log, key, at11, grow } = seen();
      grow();
      const impostor = new TestLog(); // same name, other key
      const forged = log.checkpoint(log.size, { seed: impostor.logSeed });
      const proof = log.consistency(11);
      expect(refused(() => witnessStep({ key, previous: at11, logVkey: log.vkey, noteText: forged, consistencyProof: proof, nowMs: NOW }))).toBe('bad_log_signature');
      // once pinned, a different key offered by the caller does not replace the stored one
      expect(refused(() => witnessStep({ key, previous: at11, logVkey: impostor.vkey, noteText: forged, consistencyProof: proof, nowMs: NOW }))).toBe('bad_log_signature');
      // a flipped bit in the real log signature
      const honest = log.checkpoint();
      const sigAt = honest.lastIndexOf(' ') + 10;
      const flipped = honest.slice(0, sigAt) + (honest[sigAt] === 'A' ? 'B' : 'A') + honest.slice(sigAt + 1);
      expect(refused(() => witnessStep({ key, previous: at11, logVkey: log.vkey, noteText: flipped, consistencyProof: proof, nowMs: NOW }))).toBe('bad_log_signature');
      // on first contact, the key pinned from the policy decides
      expect(refused(() => witnessStep({ key, previous: null, logVkey: log.vkey, noteText: forged, consistencyProof: [], nowMs: NOW }))).toBe('bad_log_signature');
      // and text that is not a signed note at all
      expect(refused(() => witnessStep({ key, previous: at11, logVkey: log.vkey, noteText: 'garbage', consistencyProof: [], nowMs: NOW }))).toBe('bad_log_signature');
    });
  });
});
