import { describe, expect, it } from '@jest/globals';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { AgoraError } from '../core/errors.js';
import { KDF_MEMLIMIT, KDF_OPSLIMIT } from '../crypto/profile-crypto.js';
import { fromB64u, toB64u, utf8 } from '@agora/protocol/encoding';
import { MemoryStorage } from '../store/memory-store.js';
import { openProfileStore, saveKeyHeader } from '../store/open.js';
import type { IndexedDbEnv } from '../store/indexeddb-store.js';
import {
  KEY_HEADER_FORMAT,
  addKeySlot,
  createKeyHeader,
  encodeKeyHeader,
  parseKeyHeader,
  removeKeySlots,
  unlockKeyHeader,
  type KeyHeader,
} from './header.js';
import { PassphraseKeySource } from './passphrase.js';
import { WebCryptoKeySource, DEVICE_KEY_DB } from './webcrypto.js';

// Cheap Argon2id parameters (inside the accepted bounds) keep the suite fast.
const cheap = { kdf: { opslimit: 1, memlimit: 8 * 1024 * 1024 } };
const PASS = 'correct horse battery staple';
const td = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));
const newEnv = (): IndexedDbEnv => ({ indexedDB: new IDBFactory(), IDBKeyRange });

async function codeOf(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgoraError);
  return (error as AgoraError).code;
}

/** Written by the first release of this format (storage key = bytes 0..31, passphrase PASS).
 * It must unlock forever: a change that breaks this test breaks every profile on disk. */
const FROZEN_V1 =
  '{"format":"agora-key-header","v":1,"slots":[{"kind":"argon2id","kdf":{"alg":"argon2id13","opslimit":1,"memlimit":8388608,"salt":"AAECAwQFBgcICQoLDA0ODw"},"wrapped":"Ar5h643UCUN86n12LtBBwW1Z4fWn1p0VDKA1J7GzIYYjoJ0L8wcXwCh-CeQMY1UIdEVslFN_i3RxI-RvrmFila-cni1zp-mh"}]}';

describe('key header format v1', () => {
  it('is frozen: field names, order and encodings', () => {
    const header: KeyHeader = {
      format: KEY_HEADER_FORMAT,
      v: 1,
      slots: [
        { kind: 'argon2id', kdf: { alg: 'argon2id13', opslimit: 5, memlimit: 67108864, salt: toB64u(new Uint8Array(16)) }, wrapped: toB64u(new Uint8Array(72).fill(1)) },
        { kind: 'webcrypto-aes-gcm', keyId: toB64u(new Uint8Array(16).fill(2)), iv: toB64u(new Uint8Array(12).fill(3)), wrapped: toB64u(new Uint8Array(48).fill(4)) },
      ],
    };
    const bytes = encodeKeyHeader(header);
    expect(td(bytes)).toMatchInlineSnapshot(`"{"format":"agora-key-header","v":1,"slots":[{"kind":"argon2id","kdf":{"alg":"argon2id13","opslimit":5,"memlimit":67108864,"salt":"AAAAAAAAAAAAAAAAAAAAAA"},"wrapped":"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"},{"kind":"webcrypto-aes-gcm","keyId":"AgICAgICAgICAgICAgICAg","iv":"AwMDAwMDAwMDAwMD","wrapped":"BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"}]}"`);
    expect(parseKeyHeader(bytes, 'test')).toEqual(header);
  });

  it('a header written by v1 still unlocks to the same storage key', async () => {
    const key = await unlockKeyHeader(parseKeyHeader(utf8(FROZEN_V1), 'test'), new PassphraseKeySource(PASS));
    expect(key).toEqual(Uint8Array.from({ length: 32 }, (_, i) => i));
  });

  it('refuses headers it cannot trust, naming the problem', async () => {
    const valid = JSON.parse(FROZEN_V1) as { slots: { kdf: { memlimit: number } }[] };
    const variants: [string, string][] = [
      ['not JSON', 'not readable'],
      [JSON.stringify({ ...valid, v: 2 }), 'version 2, newer than this release reads (1)'],
      [JSON.stringify({ ...valid, extra: true }), 'invalid'],
      [JSON.stringify({ ...valid, slots: [] }), 'invalid (slots)'],
      // A crafted header must not make the device allocate 1 GiB before failing.
      [JSON.stringify({ ...valid, slots: [{ ...valid.slots[0], kdf: { ...valid.slots[0].kdf, memlimit: 1024 * 1024 * 1024 } }] }), 'invalid (slots.0.kdf.memlimit)'],
      [JSON.stringify({ ...valid, slots: [{ kind: 'platform-authenticator' }] }), 'invalid'],
      [JSON.stringify({ ...valid, slots: Array(9).fill(valid.slots[0]) }), 'invalid (slots)'],
      ['x'.repeat(20_000), 'not readable'],
    ];
    for (const [text, message] of variants) {
      let error: unknown;
      try {
        parseKeyHeader(utf8(text), 'the profile');
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({ code: 'profile_corrupt', message: expect.stringContaining(message) });
    }
  });
});

describe('PassphraseKeySource', () => {
  it('wraps a random storage key with the measured Argon2id parameters by default', async () => {
    const { key, header } = await createKeyHeader([new PassphraseKeySource(PASS)]);
    const slot = header.slots[0];
    expect(slot.kind === 'argon2id' && [slot.kdf.opslimit, slot.kdf.memlimit]).toEqual([KDF_OPSLIMIT, KDF_MEMLIMIT]);
    expect(await unlockKeyHeader(header, new PassphraseKeySource(PASS))).toEqual(key);
  });

  it('refuses a wrong passphrase, and NFC-normalises the right one', async () => {
    const { key, header } = await createKeyHeader([new PassphraseKeySource('Grüße', cheap)]);
    expect(await codeOf(unlockKeyHeader(header, new PassphraseKeySource('Grüsse', cheap)))).toBe('wrong_passphrase');
    // "ü" as u + combining diaeresis (as some keyboards produce it).
    expect(await unlockKeyHeader(header, new PassphraseKeySource('Gru\u0308ße'))).toEqual(key);
  });

  it('refuses a tampered wrapped key as a wrong passphrase (the two cannot be told apart)', async () => {
    const { header } = await createKeyHeader([new PassphraseKeySource(PASS, cheap)]);
    const slot = header.slots[0];
    if (slot.kind !== 'argon2id') throw new Error('unexpected slot');
    const wrapped = fromB64u(slot.wrapped);
    wrapped[40] ^= 1;
    const tampered = { ...header, slots: [{ ...slot, wrapped: toB64u(wrapped) }] };
    expect(await codeOf(unlockKeyHeader(tampered, new PassphraseKeySource(PASS)))).toBe('wrong_passphrase');
  });
});

describe('WebCryptoKeySource', () => {
  it('keeps a non-extractable key in IndexedDB that unwraps the storage key', async () => {
    const env = newEnv();
    const source = new WebCryptoKeySource({ env });
    const { key, header } = await createKeyHeader([source]);
    const slot = header.slots[0];
    expect(slot.kind).toBe('webcrypto-aes-gcm');
    // Another page load: a new source over the same browser storage.
    expect(await unlockKeyHeader(header, new WebCryptoKeySource({ env }))).toEqual(key);

    const stored = await new Promise<unknown>((resolve, reject) => {
      const open = env.indexedDB.open(DEVICE_KEY_DB, 1);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const req = open.result.transaction('keys', 'readonly').objectStore('keys').get(slot.kind === 'webcrypto-aes-gcm' ? slot.keyId : '');
        req.onsuccess = () => {
          open.result.close();
          resolve(req.result);
        };
      };
    });
    expect(stored).toBeInstanceOf(CryptoKey);
    expect((stored as CryptoKey).extractable).toBe(false);
    await expect(crypto.subtle.exportKey('raw', stored as CryptoKey)).rejects.toThrow();
  });

  it('cannot unlock in another browser, after signing out, or with a tampered slot', async () => {
    const env = newEnv();
    const source = new WebCryptoKeySource({ env });
    const { header } = await createKeyHeader([source]);
    expect(await codeOf(unlockKeyHeader(header, new WebCryptoKeySource({ env: newEnv() })))).toBe('wrong_passphrase');

    const slot = header.slots[0];
    if (slot.kind !== 'webcrypto-aes-gcm') throw new Error('unexpected slot');
    const wrapped = fromB64u(slot.wrapped);
    wrapped[0] ^= 1;
    expect(await codeOf(unlockKeyHeader({ ...header, slots: [{ ...slot, wrapped: toB64u(wrapped) }] }, source))).toBe('wrong_passphrase');

    await source.forget(slot);
    expect(await codeOf(unlockKeyHeader(header, source))).toBe('wrong_passphrase');
  });
});

describe('openProfileStore: key header and store together', () => {
  it('creates a profile with a passphrase, adds "stay signed in", and signs out again', async () => {
    const disk = new MemoryStorage();
    const env = newEnv();
    const created = await openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, cheap) });
    expect(created.created).toBe(true);
    await created.store.transaction(['identity'], 'readwrite', async (tx) => tx.put('identity', 'device', utf8('device keys')));
    const device = new WebCryptoKeySource({ env });
    const withDevice = await addKeySlot(created.header, created.key, device);
    const backend = disk.backend();
    await saveKeyHeader(backend, withDevice);
    await backend.close();
    await created.store.close();

    // The header is the only clear record, and it does not hold the storage key.
    expect(Buffer.from(disk.header!).includes(Buffer.from(created.key))).toBe(false);
    expect(Buffer.from(disk.header!).includes(Buffer.from(toB64u(created.key)))).toBe(false);

    expect(await codeOf(openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource('wrong', cheap) }))).toBe('wrong_passphrase');
    for (const keySource of [new PassphraseKeySource(PASS), new WebCryptoKeySource({ env })]) {
      const opened = await openProfileStore({ backend: disk.backend(), keySource });
      expect(opened.created).toBe(false);
      expect(td(await opened.store.read(['identity'], (tx) => tx.get('identity', 'device')))).toBe('device keys');
      await opened.store.close();
    }

    const signedOut = removeKeySlots(withDevice, (s) => s.kind === 'webcrypto-aes-gcm');
    await device.forget(withDevice.slots[1]);
    const b2 = disk.backend();
    await saveKeyHeader(b2, signedOut);
    await b2.close();
    expect(await codeOf(openProfileStore({ backend: disk.backend(), keySource: new WebCryptoKeySource({ env }) }))).toBe('wrong_passphrase');
    expect(() => removeKeySlots(signedOut, () => true)).toThrow('no way to unlock');
  });

  it('a crash between writing the header and initialising the store is recovered at the next open', async () => {
    const disk = new MemoryStorage();
    const backend = disk.backend();
    backend.commit = async () => {
      throw new Error('power cut');
    };
    await expect(openProfileStore({ backend, keySource: new PassphraseKeySource(PASS, cheap) })).rejects.toThrow('power cut');
    expect(disk.header).toBeDefined();
    expect(await codeOf(openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource('wrong', cheap) }))).toBe('wrong_passphrase');
    const opened = await openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, cheap) });
    expect(opened.created).toBe(false);
    await opened.store.transaction(['identity'], 'readwrite', async (tx) => tx.put('identity', 'device', utf8('keys')));
    await opened.store.close();
    const again = await openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, cheap) });
    expect(td(await again.store.read(['identity'], (tx) => tx.get('identity', 'device')))).toBe('keys');
    await again.store.close();
  });

  it('does not create a profile when told not to', async () => {
    expect(await codeOf(openProfileStore({ backend: new MemoryStorage().backend(), keySource: new PassphraseKeySource(PASS, cheap), create: false }))).toBe('not_registered');
  });

  it('the store refuses a storage key that is not the profile’s, even past the header', async () => {
    const disk = new MemoryStorage();
    const { store } = await openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, cheap) });
    await store.close();
    // Someone replaces the header with one wrapping a different key under the same passphrase.
    const other = await createKeyHeader([new PassphraseKeySource(PASS, cheap)]);
    disk.header = encodeKeyHeader(other.header);
    expect(await codeOf(openProfileStore({ backend: disk.backend(), keySource: new PassphraseKeySource(PASS, cheap) }))).toBe('wrong_passphrase');
  });
});
