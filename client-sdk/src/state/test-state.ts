/** A complete, realistic ProfileState for storage tests (no relay needed): one secret group with
 * an MLS state, content keys and `messages` messages, one empty public group. */
import { toB64u } from '@agora/protocol/encoding';
import { platformRandom as randomBytes } from '@agora/protocol/crypto/random';
import { emptyGroup, type ProfileState, type StoredMessage } from '../core/state.js';

export const GROUP = 'g_AAAAAAAAAAAAAAAAAAAAAA';
export const OTHER = 'g_BBBBBBBBBBBBBBBBBBBBBB';

export function message(seq: number): StoredMessage {
  return { id: `r_${seq}`, seq, sender: 'u_alice', senderDevice: 'd_alice', sentAt: 1_700_000_000_000 + seq, text: `message number ${seq}: ${'lorem ipsum '.repeat(12)}` };
}

export function sampleState(messages: number): ProfileState {
  const group = {
    ...emptyGroup({ id: GROUP, name: 'Station 3', kind: 'secret', departmentId: null }),
    mls: toB64u(randomBytes(1500)),
    epochKeys: { '1': toB64u(randomBytes(32)), '2': toB64u(randomBytes(32)) },
    cursor: messages,
    counters: { d_alice: messages },
    owners: ['u_alice'],
    messages: Array.from({ length: messages }, (_, i) => message(i + 1)),
  };
  return {
    v: 1,
    server: 'http://127.0.0.1:1',
    orgId: 'o_1',
    orgName: 'Klinikum',
    userId: 'u_alice',
    deviceId: 'd_alice',
    name: 'Alice',
    role: 'admin',
    keys: { signPub: toB64u(randomBytes(32)), signSeed: toB64u(randomBytes(32)), encPub: toB64u(randomBytes(32)), encSecret: toB64u(randomBytes(32)) },
    keyPackages: [{ ref: 'kp1', publicPackage: toB64u(randomBytes(300)), privateState: toB64u(randomBytes(300)), lastResort: true }],
    directory: {
      users: [{ id: 'u_alice', name: 'Alice', role: 'admin', status: 'active', departments: [], createdAt: 1 }],
      devices: [{ id: 'd_alice', userId: 'u_alice', signPub: 'x', encPub: 'y', status: 'active', createdAt: 1, enrolledBy: 'bootstrap' }],
    },
    groups: { [GROUP]: group, [OTHER]: emptyGroup({ id: OTHER, name: 'Kantine', kind: 'public', departmentId: null }) },
    orgKeys: { '1': toB64u(randomBytes(32)) },
    mailboxCursor: 4,
    directorySeq: 7,
    sentCounters: { [GROUP]: 3 },
    historySentTo: [],
    kt: { policy: { log: 'x' }, policySource: 'relay', checkpoint: null, users: {}, knownOwnDevices: ['d_alice'], alarms: [], orgKeyLog: null, unloggedSince: {} },
    token: { value: 'secret-token', expiresAt: 5 },
  };
}

