/** Registration and sign-in: a device enrols with an invite code and signs the relay's challenges
 * for its bearer tokens. */
import * as api from '@agora/protocol/api';
import { fromB64u, newId, toB64u } from '@agora/protocol/encoding';
import { authChallengeMessage, inviteHash } from '@agora/protocol/signing';
import { deviceEnrolmentMessage, inviteKeyPair } from '@agora/protocol/kt/entries';
import { AgoraError } from '../core/errors.js';
import { PROFILE_VERSION, type ProfileState } from '../core/state.js';
import { PolicySchema, type Policy } from '@agora/protocol/kt/policy';
import { generateDeviceKeys, sign } from '@agora/protocol/crypto/device-keys';
import { ask, persist, type Op } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import { refreshDirectory } from './directory.js';
import { topUpKeyPackages } from './keypackages.js';
import { syncUnlocked } from './sync.js';

/** The device's bearer token, from the state while it has a minute left, else signed for anew
 * (`fresh`: the relay refused the one held). Its requests go without a token. */
export async function* ensureToken(mc: Machine, fresh = false): Op<string> {
  const t = mc.state.token;
  if (!fresh && t && t.expiresAt - 60_000 > mc.now()) return t.value;
  const { challenge } = yield* ask(req.challenge(mc.state.deviceId));
  const signature = toB64u(await sign(fromB64u(mc.state.keys.signSeed), authChallengeMessage({ deviceId: mc.state.deviceId, challenge })));
  const token = yield* ask(req.token({ deviceId: mc.state.deviceId, challenge, signature }));
  mc.state.token = { value: token.token, expiresAt: token.expiresAt };
  return token.token;
}

/** Enrols a new device with an invite code and sets up `mc.state` for it: keys made here, the
 * enrolment signed with the device's key and with the invite's key (derived from the code, which
 * never leaves this device), then the directory, KeyPackages and a first sync. The state is
 * persisted as soon as the relay registered the device. */
export async function* register(mc: Machine, input: { server: string; invite: string; name?: string; policy?: Policy }): Op<void> {
  const keys = await generateDeviceKeys(mc.random);
  const signPub = toB64u(keys.signPub);
  const encPub = toB64u(keys.encPub);
  const invite = inviteKeyPair(input.invite);
  const codeHash = toB64u(inviteHash(input.invite));
  const info = yield* ask(req.inviteInfo(codeHash));
  if (toB64u(invite.publicKey) !== info.invitePub) {
    throw new AgoraError('bad_signature', 'the relay answered with another invite than this code: not registering');
  }
  const userId = info.kind === 'device' && info.userId ? info.userId : newId('u', mc.random);
  const deviceId = newId('d', mc.random);
  const enrolment = deviceEnrolmentMessage({ userId, deviceId, signPub: keys.signPub, encPub: keys.encPub });
  const inviteSig = toB64u(await sign(invite.seed, enrolment));
  const deviceSig = toB64u(await sign(keys.signSeed, enrolment));
  // The organisation's key-transparency policy: from the security officer's file, or else the
  // log key the relay names now (trust on first use, no witnesses).
  let policy = input.policy;
  if (!policy) {
    const p = yield* ask(req.ktPolicy());
    policy = PolicySchema.parse({ log: { origin: p.origin, vkey: p.vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 86_400 });
  }
  const reg: api.RegisterResponse = yield* ask(req.register({ codeHash, userId, deviceId, name: input.name, signPub, encPub, inviteSig, deviceSig }));
  const state: ProfileState = {
    v: PROFILE_VERSION,
    server: input.server.replace(/\/+$/, ''),
    orgId: reg.orgId,
    orgName: reg.orgName,
    userId: reg.userId,
    deviceId: reg.deviceId,
    name: reg.name,
    role: reg.role,
    keys: { signPub, signSeed: toB64u(keys.signSeed), encPub, encSecret: toB64u(keys.encSecret) },
    keyPackages: [],
    directory: { users: [], devices: [] },
    groups: {},
    orgKeys: {},
    mailboxCursor: 0,
    directorySeq: 0,
    sentCounters: {},
    historySentTo: [],
    kt: { policy, policySource: input.policy ? 'file' : 'relay', checkpoint: null, users: {}, knownOwnDevices: [reg.deviceId], alarms: [], orgKeyLog: null, unloggedSince: {} },
    token: null,
  };
  mc.begin(state);
  yield* persist();
  yield* refreshDirectory(mc);
  // The person's devices that existed before this one are known to it.
  mc.state.kt.knownOwnDevices.push(...mc.state.directory.devices.filter((d) => d.userId === reg.userId && d.id !== reg.deviceId).map((d) => d.id));
  yield* topUpKeyPackages(mc, true);
  yield* persist();
  yield* syncUnlocked(mc);
}
