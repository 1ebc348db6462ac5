/** 'meta' records: a secret group's name and description, sealed like any record so only members
 * read them. Readers take the latest one an owner wrote, never one from a non-owner, never an older
 * one read again, and never one in a public group. */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { generateDeviceKeys, type DeviceKeys } from '@agora/protocol/crypto/device-keys';
import { RecordRejected, openRecord, sealRecord, type ContentRecord } from '../crypto/records.js';
import type { Device, LogEntry } from '@agora/protocol/api';
import { newId, toB64u } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { ingestEntries, type IngestContext } from './ingest.js';
import { emptyGroup, type GroupLocal } from './state.js';

const groupId = newId('g');
const key = randomBytes(32);
const owner = { userId: newId('u'), deviceId: newId('d') };
const member = { userId: newId('u'), deviceId: newId('d') };
let keys: Record<string, DeviceKeys>;
let counter = 0;

beforeAll(async () => {
  keys = { [owner.deviceId]: await generateDeviceKeys(), [member.deviceId]: await generateDeviceKeys() };
});

function meta(by: { userId: string; deviceId: string }, body: { name: string; description?: string }): ContentRecord {
  return {
    v: 1, id: newId('r'), groupId, epoch: 0, senderUserId: by.userId, senderDeviceId: by.deviceId,
    counter: ++counter, sentAt: 1, type: 'meta', body,
  };
}

async function entry(seq: number, record: ContentRecord): Promise<LogEntry> {
  const payload = await sealRecord({ record, key, signSeed: keys[record.senderDeviceId].signSeed });
  return { seq, kind: 'record', epoch: 0, sender: record.senderDeviceId, at: 1, payload };
}

function ctx(): IngestContext {
  const device = (id: string): Device | undefined => {
    const who = [owner, member].find((p) => p.deviceId === id);
    return who && {
      id, userId: who.userId, signPub: toB64u(keys[id].signPub), encPub: toB64u(keys[id].encPub), status: 'active', createdAt: 0,
      enrolledBy: 'user-invite',
    };
  };
  return {
    selfDeviceId: owner.deviceId, device, mlsLookup: () => undefined, publicKey: () => key, revoked: () => false,
  } as IngestContext;
}

function secretGroup(owners: string[]): GroupLocal {
  return { ...emptyGroup({ id: groupId, name: '', kind: 'secret', departmentId: null }), epochKeys: { '0': toB64u(key) }, logEpoch: 0, cursorEpoch: 0, owners };
}

describe('meta records', () => {
  it('seal and open with a name and a description; a meta record needs a meta body', async () => {
    const r = meta(owner, { name: 'Baustelle Nord', description: 'Abstimmung' });
    const payload = await sealRecord({ record: r, key, signSeed: keys[owner.deviceId].signSeed });
    const opened = await openRecord({ ciphertext: payload, key, groupId, epoch: 0, senderDeviceId: owner.deviceId, senderSignPub: keys[owner.deviceId].signPub });
    expect(opened.body).toEqual({ name: 'Baustelle Nord', description: 'Abstimmung' });
    await expect(sealRecord({ record: { ...r, body: { text: 'x' } }, key, signSeed: keys[owner.deviceId].signSeed })).rejects.toThrow(RecordRejected);
    await expect(sealRecord({ record: { ...r, type: 'text', body: { name: 'x' } }, key, signSeed: keys[owner.deviceId].signSeed })).rejects.toThrow(RecordRejected);
    // the name rules hold inside the encryption too
    await expect(sealRecord({ record: meta(owner, { name: 'Ben\u202eWeber' }), key, signSeed: keys[owner.deviceId].signSeed })).rejects.toThrow(RecordRejected);
  });

  it('the latest meta record from an owner names the group and is no message', async () => {
    const out = await ingestEntries(secretGroup([owner.userId]), [
      await entry(1, meta(owner, { name: 'Erst', description: 'eins' })),
      await entry(2, meta(owner, { name: 'Dann' })),
    ], ctx());
    expect(out.group).toMatchObject({ name: 'Dann', description: null, metaSeq: 2 });
    expect(out.messages).toEqual([]);
    expect(out.group.rejected).toEqual([]);
  });

  it('a member who is not an owner cannot rename the group', async () => {
    const out = await ingestEntries(secretGroup([owner.userId]), [
      await entry(1, meta(owner, { name: 'Kanal' })),
      await entry(2, meta(member, { name: 'Übernommen' })),
    ], ctx());
    expect(out.group.name).toBe('Kanal');
    expect(out.group.rejected.map((r) => r.reason)).toEqual(['group name set by someone who is not an owner']);
  });

  it('an older meta record read again (history) does not bring an old name back', async () => {
    const first = await ingestEntries(secretGroup([owner.userId]), [await entry(5, meta(owner, { name: 'Neu' }))], ctx());
    const replayed = await ingestEntries({ ...first.group, cursor: 0 }, [await entry(3, meta(owner, { name: 'Alt' }))], ctx());
    expect(replayed.group.name).toBe('Neu');
  });

  it('a public group carries no meta record', async () => {
    const pub = emptyGroup({ id: groupId, name: 'Kantine', kind: 'public', departmentId: null });
    const out = await ingestEntries(pub, [await entry(1, meta(owner, { name: 'Umbenannt' }))], ctx());
    expect(out.group.name).toBe('Kantine');
    expect(out.group.rejected).toHaveLength(1);
  });
});
