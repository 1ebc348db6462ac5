import { describe, expect, it } from '@jest/globals';
import { toB64u, utf8 } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { AgoraError } from '../core/errors.js';
import type { ProfileState } from '../core/state.js';
import { PassphraseKeySource } from '../keysource/passphrase.js';
import { MemoryStorage } from '../store/memory-store.js';
import type { StoreBackend } from '../store/types.js';
import { RECORDS_VERSION } from './records.js';
import { StoreProfile } from './store-profile.js';
import { GROUP, OTHER, message, sampleState as state } from './test-state.js';

const PASS = 'correct horse battery staple';
// Cheap Argon2id parameters (inside the accepted bounds) keep the suite fast.
const cheap = { kdf: { opslimit: 1, memlimit: 8 * 1024 * 1024 } };

/** One lock shared by every profile on one storage, as the lock file or Web Locks would be. */
function sharedLock(): () => Promise<() => Promise<void>> {
  let tail = Promise.resolve();
  return async () => {
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const before = tail;
    tail = tail.then(() => mine);
    await before;
    return async () => release();
  };
}

/** A backend that counts what each commit hands to the disk (ciphertext). */
function counting(backend: StoreBackend): StoreBackend & { commits: { records: number; bytes: number }[] } {
  const commits: { records: number; bytes: number }[] = [];
  return Object.assign(Object.create(backend) as StoreBackend, {
    commits,
    async commit(ops: Parameters<StoreBackend['commit']>[0]) {
      commits.push({ records: ops.length, bytes: ops.reduce((n, op) => n + (op.kind === 'put' ? op.value.length : 0), 0) });
      return backend.commit(ops);
    },
  });
}

function profile(disk: MemoryStorage, lock = sharedLock(), passphrase = PASS) {
  const backend = counting(disk.backend());
  return { profile: new StoreProfile({ backend, keySource: new PassphraseKeySource(passphrase, cheap), lock, describe: 'test profile' }), backend };
}

/** Runs one client operation: lock, load, change, save, as AgoraClient.tx does. */
async function operation(p: StoreProfile, change: (s: ProfileState) => void): Promise<ProfileState> {
  const release = await p.lock();
  try {
    const s = await p.load();
    change(s);
    await p.save(s);
    return s;
  } finally {
    await release();
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AgoraError);
  return (error as AgoraError).code;
}

describe('StoreProfile', () => {
  it('saves a state as records and loads the same state back, across a reopen', async () => {
    const disk = new MemoryStorage();
    const { profile: a } = profile(disk);
    expect(await a.exists()).toBe(false);
    expect(await codeOf(a.load())).toBe('not_registered');
    const original = state(30);
    // Stored in log order whatever order they were read in (history arrives later).
    original.groups[GROUP].messages.reverse();
    await a.save(original);
    expect(await a.exists()).toBe(true);
    await a.close();

    const { profile: b } = profile(disk);
    const loaded = await b.load();
    const expected = structuredClone(original);
    expected.groups[GROUP].messages.sort((x, y) => x.seq - y.seq);
    expect(loaded).toEqual(expected);
    await b.close();
  });

  it('keeps every value encrypted at rest', async () => {
    const disk = new MemoryStorage();
    const { profile: p } = profile(disk);
    const s = state(3);
    await p.save(s);
    const raw = Buffer.concat([...disk.records().map((r) => Buffer.from(r.value)), Buffer.from(disk.header!)]);
    for (const secret of ['message number 2', 'secret-token', 'Station 3', GROUP, s.keys.signSeed]) expect(raw.includes(Buffer.from(secret))).toBe(false);
  });

  it('a save writes what changed: one new message is O(1) records and bytes at 100 and at 10,000 messages', async () => {
    const costs: Record<number, { records: number; bytes: number; ms: number }> = {};
    for (const n of [100, 10_000]) {
      const disk = new MemoryStorage();
      const { profile: p, backend } = profile(disk);
      await p.save(state(n));
      const commits = backend.commits.length;
      // Nothing changed: nothing is written.
      await operation(p, () => undefined);
      expect(backend.commits.length).toBe(commits);
      const t0 = performance.now();
      await operation(p, (s) => {
        const g = s.groups[GROUP];
        g.messages.push(message(n + 1));
        g.cursor = n + 1;
        g.counters.d_alice = n + 1;
      });
      const ms = performance.now() - t0;
      const last = backend.commits[backend.commits.length - 1];
      costs[n] = { ...last, ms };
      // The message, the group's small record and the save token; not the MLS state, keys or history.
      expect(last.records).toBe(3);
      expect(p.lastSave).toMatchObject({ records: 3, deleted: 0 });
      const reloaded = await profile(disk).profile.load();
      expect(reloaded.groups[GROUP].messages.length).toBe(n + 1);
      expect(reloaded.groups[GROUP].messages[n]).toEqual(message(n + 1));
    }
    expect(costs[10_000].records).toBe(costs[100].records);
    // Same records; sizes differ only by digits of the numbers in them.
    expect(Math.abs(costs[10_000].bytes - costs[100].bytes)).toBeLessThan(16);
    expect(costs[100].bytes).toBeLessThan(1_600);
    process.stdout.write(`[StoreProfile] save after one new message: ${costs[100].records} records, ${costs[100].bytes} bytes at 100 messages (${costs[100].ms.toFixed(1)} ms); ${costs[10_000].records} records, ${costs[10_000].bytes} bytes at 10,000 (${costs[10_000].ms.toFixed(1)} ms, load included)\n`);
  });

  it('writes only the records whose content changed, and deletes a group that is gone', async () => {
    const disk = new MemoryStorage();
    const { profile: p, backend } = profile(disk);
    await p.save(state(5));
    const commits = backend.commits.length;
    await operation(p, (s) => {
      s.groups[GROUP].mls = toB64u(randomBytes(1500));
    });
    expect(p.lastSave).toMatchObject({ records: 2, deleted: 0 });
    await operation(p, (s) => {
      s.mailboxCursor = 9;
      s.groups[GROUP].epochKeys['3'] = toB64u(randomBytes(32));
    });
    expect(p.lastSave).toMatchObject({ records: 3, deleted: 0 });
    const before = disk.records().length;
    await operation(p, (s) => {
      delete s.groups[GROUP];
    });
    // group, MLS, 3 content keys, 5 messages; and the device record (its group list) and token.
    expect(p.lastSave).toMatchObject({ records: 2, deleted: 10 });
    expect(disk.records().length).toBe(before - 10);
    const loaded = await profile(disk).profile.load();
    expect(Object.keys(loaded.groups)).toEqual([OTHER]);
    expect(loaded.mailboxCursor).toBe(9);
    expect(backend.commits.length).toBe(commits + 3);
  });

  it('does not trust what it remembers across locks: another writer in between is never undone by half', async () => {
    const disk = new MemoryStorage();
    const lock = sharedLock();
    const { profile: a } = profile(disk, lock);
    const { profile: b } = profile(disk, lock);
    const base = state(3);
    await a.save(base);
    await operation(b, (s) => {
      s.groups[GROUP].messages.push(message(4));
      s.name = 'Alice B.';
    });
    // a's next operation sees b's save (its remembered copy is not answered from).
    const seen = await operation(a, () => undefined);
    expect([seen.name, seen.groups[GROUP].messages.length]).toEqual(['Alice B.', 4]);
    await operation(b, (s) => void s.groups[GROUP].messages.push(message(5)));
    // a saves a state of its own without loading first (under a new lock): the store ends up
    // exactly that state, with nothing of b's left behind.
    const mine = structuredClone(base);
    mine.orgName = 'Klinikum Nord';
    await a.save(mine);
    expect(a.lastSave).toMatchObject({ records: 2, deleted: 2 });
    expect(await profile(disk, lock).profile.load()).toEqual(mine);
  });

  it('refuses a wrong passphrase, a record moved elsewhere, and a format from a newer release', async () => {
    const disk = new MemoryStorage();
    await profile(disk).profile.save(state(2));
    expect(await codeOf(profile(disk, sharedLock(), 'wrong').profile.load())).toBe('wrong_passphrase');

    // Two message records swapped on disk: each fails to open where it now stands.
    const messages = disk.records().filter((r) => r.store === 'messages');
    const [m1, m2] = messages;
    disk.table.apply([
      { kind: 'put', store: m1.store, tag: m1.tag, index: m1.index, value: m2.value },
      { kind: 'put', store: m2.store, tag: m2.tag, index: m2.index, value: m1.value },
    ]);
    expect(await codeOf(profile(disk).profile.load())).toBe('profile_corrupt');

    const newer = new MemoryStorage();
    const { profile: p } = profile(newer);
    await p.save(state(1));
    // A later release that bumped the records version (written through the real store API).
    const { openProfileStore } = await import('../store/open.js');
    const opened = await openProfileStore({ backend: newer.backend(), keySource: new PassphraseKeySource(PASS, cheap) });
    await opened.store.transaction(['identity'], 'readwrite', async (tx) => {
      const device = JSON.parse(new TextDecoder().decode(await tx.get('identity', ['device', 0]))) as Record<string, unknown>;
      tx.put('identity', ['device', 0], utf8(JSON.stringify({ ...device, recordsVersion: RECORDS_VERSION + 1 })));
    });
    await opened.store.close();
    const error = await profile(newer).profile.load().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'profile_corrupt', message: expect.stringContaining('newer release') });

    // A profile of records version 1 (before alarms named their person) is read as it is.
    const older = new MemoryStorage();
    await profile(older).profile.save(state(1));
    const reopened = await openProfileStore({ backend: older.backend(), keySource: new PassphraseKeySource(PASS, cheap) });
    await reopened.store.transaction(['identity'], 'readwrite', async (tx) => {
      const device = JSON.parse(new TextDecoder().decode(await tx.get('identity', ['device', 0]))) as Record<string, unknown>;
      tx.put('identity', ['device', 0], utf8(JSON.stringify({ ...device, recordsVersion: 1 })));
    });
    await reopened.store.close();
    expect((await profile(older).profile.load()).userId).toBe(state(1).userId);
  });

  it('unlocks once: later operations do not derive the key again', async () => {
    const disk = new MemoryStorage();
    await profile(disk).profile.save(state(2));
    const source = new PassphraseKeySource(PASS, cheap);
    let unlocks = 0;
    const unlock = source.unlock.bind(source);
    source.unlock = async (slot) => {
      unlocks++;
      return unlock(slot);
    };
    const p = new StoreProfile({ backend: disk.backend(), keySource: source, lock: sharedLock() });
    await operation(p, (s) => void (s.mailboxCursor = 0));
    // Once ahead of the lock (the Argon2id derivation) and once inside it (the source's cached key).
    const first = unlocks;
    expect(first).toBeLessThanOrEqual(2);
    for (let i = 1; i < 5; i++) await operation(p, (s) => void (s.mailboxCursor = i));
    expect(unlocks).toBe(first);
    expect((await p.load()).mailboxCursor).toBe(4);
  });

  it('adds and drops a way to unlock without re-encrypting the store', async () => {
    const disk = new MemoryStorage();
    const { profile: p } = profile(disk);
    await p.save(state(2));
    const before = disk.records().map((r) => Buffer.from(r.value).toString('base64'));
    await p.addUnlockMethod(new PassphraseKeySource('second passphrase', cheap));
    expect((await profile(disk, sharedLock(), 'second passphrase').profile.load()).name).toBe('Alice');
    expect(disk.records().map((r) => Buffer.from(r.value).toString('base64'))).toEqual(before);
    let n = 0;
    await p.removeUnlockMethods(() => n++ === 1);
    expect(await codeOf(profile(disk, sharedLock(), 'second passphrase').profile.load())).toBe('wrong_passphrase');
    expect((await profile(disk).profile.load()).name).toBe('Alice');
  });
});

describe('StoreProfile.loadHead', () => {
  it('reads the state without its messages, never saves it, and leaves every message stored', async () => {
    const disk = new MemoryStorage();
    await profile(disk).profile.save(state(300));
    const reads: string[] = [];
    const { profile: p, backend } = profile(disk);
    const range = backend.range.bind(backend);
    backend.range = async (store, tag, q) => {
      reads.push(store);
      return range(store, tag, q);
    };
    const head = await p.loadHead();
    // No message record was even read.
    expect(reads).not.toContain('messages');
    expect(head.groups[GROUP].messages).toEqual([]);
    const whole = await p.load();
    expect(whole.groups[GROUP].messages).toHaveLength(300);
    expect({ ...head, groups: {} }).toEqual({ ...whole, groups: {} });
    expect({ ...head.groups[GROUP], messages: [] }).toEqual({ ...whole.groups[GROUP], messages: [] });
    // A head saved would delete the messages: refused, and nothing is written.
    const commits = backend.commits.length;
    await expect(p.save(head)).rejects.toThrow(/never saved/);
    expect(backend.commits.length).toBe(commits);
    // The next operation loads everything and a save of it changes nothing.
    const after = await operation(p, () => undefined);
    expect(after.groups[GROUP].messages.map((m) => m.seq)).toEqual(whole.groups[GROUP].messages.map((m) => m.seq));
    expect(p.lastSave.records + p.lastSave.deleted).toBe(0);
    expect((await profile(disk).profile.load()).groups[GROUP].messages).toHaveLength(300);
  });
});
