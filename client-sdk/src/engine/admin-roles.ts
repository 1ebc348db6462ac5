/** Changing a person's role (administrators). A role is a key-transparency fact: this device signs
 * the change, the relay logs it as a ROLE_CHANGED entry, and this device then checks that the log
 * it verifies shows the new role, as every other client and the audit will. */
import * as api from '@agora/protocol/api';
import { fromB64u, toB64u } from '@agora/protocol/encoding';
import { ROLE_NONCE_BYTES, roleChangeMessage } from '@agora/protocol/kt/entries';
import { sign } from '@agora/protocol/crypto/device-keys';
import { AgoraError } from '../core/errors.js';
import { type Op, ask } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import { followOwnRole, refreshDirectory, resolveUser } from './directory.js';

/** `inLog: false`: the relay took the change but the newest checkpoint the policy's witnesses
 * vouch for does not include it yet (they cosign later); every device still goes by the log. */
export async function* setRole(mc: Machine, userRef: string, role: api.Role): Op<{ userId: string; name: string; role: api.Role; inLog: boolean }> {
  if (!api.Role.safeParse(role).success) throw new AgoraError('usage', `"${String(role)}" is not a role (member, announcer or admin)`);
  yield* refreshDirectory(mc);
  yield* followOwnRole(mc);
  const user = yield* resolveUser(mc, userRef);
  if (mc.state.role !== 'admin') throw new AgoraError('forbidden', 'only an administrator may change roles');
  if (user.status !== 'active') throw new AgoraError('usage', `${user.name} is deactivated`);
  if (user.role === role) throw new AgoraError('conflict', `${user.name} is ${role} already`);
  // A nonce of this device's own: the signature then covers this one change, and the relay cannot
  // log it a second time.
  const nonce = mc.random(ROLE_NONCE_BYTES);
  const signature = await sign(fromB64u(mc.state.keys.signSeed), roleChangeMessage({ userId: user.id, role, nonce }));
  yield* ask(req.changeRole(user.id, { role, nonce: toB64u(nonce), signature: toB64u(signature) }));
  mc.trust.begin();
  yield* mc.trust.refresh();
  const failed = yield* mc.trust.ensureUsers([user.id]);
  const logged = mc.state.kt.users[user.id];
  if (failed.length === 0 && logged?.role !== role && mc.trust.policy.quorum > 0) return { userId: user.id, name: user.name, role, inLog: false };
  if (failed.length > 0 || logged?.role !== role) {
    // Without witnesses the relay answers with its latest checkpoint, which must hold the change.
    const a = mc.trust.alarm('role_change_missing', `the relay accepted ${user.name}'s new role ${role}, but the key-transparency log does not show it`);
    throw new AgoraError('forbidden', a.message);
  }
  return { userId: user.id, name: logged.name, role: logged.role, inLog: true };
}

/** Every person's role as this device verified it in the key-transparency log (`verified`), or,
 * for someone the log does not prove (yet), the relay's word with `verified: false`. What an
 * administration screen shows, so a relay cannot pass someone off as an administrator. */
export async function* verifiedRoles(mc: Machine): Op<{ userId: string; role: api.Role; verified: boolean }[]> {
  yield* refreshDirectory(mc);
  const users = mc.state.directory.users;
  yield* mc.trust.ensureUsers(users.map((u) => u.id));
  const size = mc.state.kt.checkpoint?.size;
  return users.map((u) => {
    const v = mc.state.kt.users[u.id];
    return v && v.size === size ? { userId: u.id, role: v.role, verified: true } : { userId: u.id, role: u.role, verified: false };
  });
}
