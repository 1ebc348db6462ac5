/** Records that lie are refused by every member: a forged signature, a record made for another
 * group, a replayed counter, a sender that is not the device that appended it, and bytes the relay
 * changed in its database. Nothing refused is shown; every refusal is reported. */
import Database from 'better-sqlite3';
import path from 'node:path';
import { AgoraClient, RelayHttp } from '@agora/client-sdk';
import { nodeFetch, nodeProfile } from '@agora/client-sdk/node';
import { fromB64u, newId, toB64u } from '@agora/protocol';
import { canonicalRecordBytes, encryptRecordFrame, recordSignatureMessage, sealRecord, type ContentRecord } from '../client-sdk/src/crypto/records.js';
import { sign } from '../protocol/src/crypto/device-keys.js';
import { generateDeviceKeys } from '../protocol/src/crypto/device-keys.js';
import { startWorld, PASSPHRASE, type World } from './helpers.js';

let world: World;
afterAll(async () => world.close());

test('every client refuses records whose signature, group, counter or bytes do not match', async () => {
  world = await startWorld();
  const admin = (await world.register(world.adminInvite, 'Admin')).client;
  const members: AgoraClient[] = [];
  for (const n of ['Alice', 'Bob']) members.push((await world.register((await admin.createInvite({ name: n })).code)).client);
  const mallory = await world.register((await admin.createInvite({ name: 'Mallory' })).code);
  const [alice, bob] = members;
  const g = await alice.createGroup({ name: 'Kasse', kind: 'secret' });
  const other = await alice.createGroup({ name: 'Anderswo', kind: 'secret' });
  await alice.addMembers(g.id, ['Bob', 'Mallory']);
  await alice.send(g.id, 'genuine 1');
  await mallory.client.send(g.id, 'mallory genuine');

  // Mallory is a member: she holds the epoch key and her own signing key, and crafts records by hand.
  await mallory.client.sync();
  const st = await nodeProfile({ profileDir: mallory.profileDir, passphrase: PASSPHRASE }).load();
  const local = st.groups[g.id];
  const epoch = Math.max(...Object.keys(local.epochKeys).map(Number));
  const key = fromB64u(local.epochKeys[String(epoch)]);
  const http = new RelayHttp(world.url, nodeFetch, async () => st.token!.value);
  const aliceDevice = alice.me.deviceId;
  const base = (over: Partial<ContentRecord>): ContentRecord => ({
    v: 1, id: newId('r'), groupId: g.id, epoch, senderUserId: st.userId, senderDeviceId: st.deviceId,
    counter: 100, sentAt: Date.now(), type: 'text', body: { text: 'x' }, ...over,
  });
  const stranger = await generateDeviceKeys();
  const forgeries: { record: ContentRecord; seed: Uint8Array }[] = [
    // signed with a key that is not her device's
    { record: base({ counter: 2, body: { text: 'FORGED signature' } }), seed: stranger.signSeed },
    // claims to be from Alice's device, appended by Mallory's
    { record: base({ counter: 3, senderDeviceId: aliceDevice, senderUserId: alice.me.userId, body: { text: 'FORGED sender' } }), seed: fromB64u(st.keys.signSeed) },
    // a counter she already used (1): a replay
    { record: base({ counter: 1, body: { text: 'FORGED counter replay' } }), seed: fromB64u(st.keys.signSeed) },
  ];
  for (const f of forgeries) await http.appendRecord(g.id, { epoch, ciphertext: await sealRecord({ record: f.record, key, signSeed: f.seed }) });
  // A correctly signed record made for another group, encrypted for this one.
  const foreign = base({ counter: 4, groupId: other.id, body: { text: 'FORGED group' } });
  const recordBytes = canonicalRecordBytes(foreign);
  const signature = await sign(fromB64u(st.keys.signSeed), await recordSignatureMessage({ groupId: other.id, epoch, recordId: foreign.id, recordBytes }));
  await http.appendRecord(g.id, { epoch, ciphertext: await encryptRecordFrame({ recordBytes, signature, key, groupId: g.id, epoch }) });

  // The relay operator flips one byte of a stored record.
  await alice.send(g.id, 'TAMPERED by the relay');
  const db = new Database(path.join(world.dataDir, 'agora.sqlite'));
  try {
    const tables = db.prepare("select name from sqlite_master where type='table'").all() as { name: string }[];
    const logTable = tables.map((t) => t.name).find((n) => /log/.test(n))!;
    const row = db.prepare(`select seq, payload from ${logTable} where group_id = ? order by seq desc limit 1`).get(g.id) as { seq: number; payload: string };
    const bytes = fromB64u(row.payload);
    bytes[bytes.length - 5] ^= 1;
    db.prepare(`update ${logTable} set payload = ? where group_id = ? and seq = ?`).run(toB64u(bytes), g.id, row.seq);
  } finally {
    db.close();
  }
  await bob.send(g.id, 'genuine 2');

  for (const c of [alice, bob, mallory.client]) {
    const r = await c.read(g.id);
    const shown = r.messages.map((m) => m.text);
    expect(shown).toEqual(['genuine 1', 'mallory genuine', 'genuine 2']);
    const refusals = r.warnings.filter((w) => w.includes('refused'));
    expect(refusals).toHaveLength(5);
    for (const reason of ['bad_signature', 'wrong_sender', 'wrong_group', 'replay', 'decrypt_failed']) {
      expect(refusals.some((w) => w.includes(reason))).toBe(true);
    }
  }
});
