/** The passphrase derivation the web app moves into a Web Worker (web-client/src/engine/kdf.ts):
 * PassphraseKeySource's injectable `derive` gets only checked parameters, must give the bytes the
 * in-thread Argon2id gives (so profiles made either way open either way), runs once per unlock
 * even when the app's own records share the profile's store, and a broken one cannot open a
 * profile. The browser half (the worker itself, measured) is tests/web/unlock.test.ts. */
import { describe, expect, it } from '@jest/globals';
import { AgoraError, StoreProfile } from '@agora/client-sdk';
import { MemoryStorage } from '../client-sdk/src/store/memory-store.js';
import { openProfileStore } from '../client-sdk/src/store/open.js';
import { createKeyHeader, deriveProfileKey, PassphraseKeySource, unlockKeyHeader, type PassphraseDerive } from '../client-sdk/src/keysource/index.js';

const PASS = 'Lindenstraße 12';
// Cheap Argon2id parameters (inside the accepted bounds) keep the suite fast.
const cheap = { opslimit: 1, memlimit: 8 * 1024 * 1024 };

/** A derivation as the worker runs it (the SDK's deriveProfileKey, elsewhere), counting calls. */
function counted(): { derive: PassphraseDerive; calls: Parameters<PassphraseDerive>[] } {
  const calls: Parameters<PassphraseDerive>[] = [];
  return {
    calls,
    derive: async (passphrase, params) => {
      calls.push([passphrase, params]);
      return deriveProfileKey(passphrase, params);
    },
  };
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof AgoraError ? error.code : String(error);
}

describe('PassphraseKeySource with an injected derivation', () => {
  it('opens a slot made in-thread, and the in-thread source opens a slot made by it', async () => {
    const inThread = await createKeyHeader([new PassphraseKeySource(PASS, { kdf: cheap })]);
    const worker = counted();
    expect(await unlockKeyHeader(inThread.header, new PassphraseKeySource(PASS, { derive: worker.derive }))).toEqual(inThread.key);
    expect(worker.calls).toHaveLength(1);
    // It receives the slot's own parameters, unchanged.
    expect(worker.calls[0][1]).toEqual(inThread.header.slots[0].kind === 'argon2id' ? inThread.header.slots[0].kdf : undefined);

    const made = await createKeyHeader([new PassphraseKeySource(PASS, { kdf: cheap, derive: counted().derive })]);
    expect(await unlockKeyHeader(made.header, new PassphraseKeySource(PASS))).toEqual(made.key);
    expect(await codeOf(unlockKeyHeader(made.header, new PassphraseKeySource('Lindenstrasse 12', { derive: counted().derive })))).toBe('wrong_passphrase');
  });

  it('uses the measured defaults (64 MiB, 5 passes) when none are given', async () => {
    const worker = counted();
    // The derivation is the expensive part; a stand-in that returns 32 bytes shows what it was asked.
    await createKeyHeader([new PassphraseKeySource(PASS, { derive: async (p, params) => (worker.calls.push([p, params]), new Uint8Array(32)) })]);
    expect(worker.calls[0][1]).toMatchObject({ alg: 'argon2id13', opslimit: 5, memlimit: 64 * 1024 * 1024 });
  });

  it('never hands parameters outside the bounds to the derivation', async () => {
    const { header } = await createKeyHeader([new PassphraseKeySource(PASS, { kdf: cheap })]);
    const slot = header.slots[0];
    if (slot.kind !== 'argon2id') throw new Error('expected an argon2id slot');
    const huge = { ...slot, kdf: { ...slot.kdf, memlimit: 4 * 1024 * 1024 * 1024 } };
    const worker = counted();
    expect(await codeOf(new PassphraseKeySource(PASS, { derive: worker.derive }).unlock(huge))).toBe('profile_corrupt');
    expect(worker.calls).toHaveLength(0);
  });

  it('refuses a derivation that gives anything but 32 bytes', async () => {
    const { header } = await createKeyHeader([new PassphraseKeySource(PASS, { kdf: cheap })]);
    const short = new PassphraseKeySource(PASS, { derive: async () => new Uint8Array(16) });
    await expect(unlockKeyHeader(header, short)).rejects.toThrow('the key derivation gave 16 bytes, not 32');
  });

  it('passes a failure of the derivation on (no silent fallback that would hide it)', async () => {
    const { header } = await createKeyHeader([new PassphraseKeySource(PASS, { kdf: cheap })]);
    const failing = new PassphraseKeySource(PASS, { derive: async () => Promise.reject(new Error('worker crashed')) });
    await expect(unlockKeyHeader(header, failing)).rejects.toThrow('worker crashed');
  });
});

describe('one unlock, one Argon2id', () => {
  it('a StoreProfile derives once for the first load, the app records in its store and later operations', async () => {
    const disk = new MemoryStorage();
    const lock = async () => async () => undefined;
    // A new profile's key header and store (no device in it yet: the store is what matters here).
    const created = await openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, { kdf: cheap }) });
    await created.store.close();

    const worker = counted();
    const profile = new StoreProfile({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, { derive: worker.derive }), lock });
    expect(profile.store).toBeUndefined();
    // As AgoraClient.open does: a load under the profile's lock (the derivation runs ahead of the
    // lock, the open under it reuses the key). This profile has no device yet, so the load says so.
    expect(await codeOf(profile.load())).toBe('not_registered');
    const store = profile.store;
    expect(store).toBeDefined();
    // The web app's records (outbox, last seen) go into the same store, namespace `outbox`.
    await store!.transaction(['outbox'], 'readwrite', async (tx) => {
      tx.put('outbox', 'app:kv:test', new TextEncoder().encode('"kept"'));
    });
    await profile.exists();
    expect(worker.calls).toHaveLength(1);
    await profile.close();

    const again = new StoreProfile({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, { derive: worker.derive }), lock });
    await again.exists();
    const kept = await again.store!.read(['outbox'], (tx) => tx.get('outbox', 'app:kv:test'));
    expect(new TextDecoder().decode(kept)).toBe('"kept"');
    await again.close();
  });
});
