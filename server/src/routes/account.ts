/** Organisation info, enrolment with an invite, sign-in, and the directory of people and devices. */
import {
  ChallengeRequest, PROTOCOL_VERSION, RegisterRequest, TokenRequest, inviteHash, newId, registerProofMessage,
  type DirectoryResponse,
} from '@agora/client-sdk/protocol';
import { verifyEd25519 } from '../auth.js';
import { AppError } from '../errors.js';
import type { Store } from '../store/types.js';
import { deviceView, userView } from '../views.js';
import { body, reply, type RouteKit } from './context.js';

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Department ids per user, gathered once for a whole directory answer. */
export async function departmentsByUser(store: Store): Promise<Map<string, string[]>> {
  const byUser = new Map<string, string[]>();
  for (const dept of await store.listDepartments()) {
    for (const userId of await store.listDepartmentMembers(dept.id)) {
      const list = byUser.get(userId) ?? [];
      list.push(dept.id);
      byUser.set(userId, list);
    }
  }
  return byUser;
}

export function accountRoutes({ router, deps, authed, open, later }: RouteKit): void {
  const { store, hub, auth, now } = deps;

  router.get('/v1/info', async (ctx) => {
    const org = await store.getOrg();
    if (!org) throw new AppError('not_found', 'the organisation is not set up yet');
    reply(ctx, 200, { orgId: org.id, orgName: org.name, version: PROTOCOL_VERSION });
  });

  router.post(
    '/v1/register',
    open(async (ctx) => {
      const req = await body(ctx, RegisterRequest);
      if (!verifyEd25519(req.signPub, registerProofMessage(req), req.proof)) {
        throw new AppError('bad_signature', 'proof does not verify with signPub');
      }
      const codeHash = hex(inviteHash(req.invite));
      const invite = await store.getInvite(codeHash);
      if (!invite) throw new AppError('not_found', 'unknown invite code');
      // The administrator named the person on a user invite; only the first admin names themselves.
      const userName = invite.kind === 'device' ? null : invite.bootstrap ? (req.name ?? 'Admin') : invite.name;
      const at = now();
      const outcome = await store.register({
        codeHash,
        now: at,
        userId: newId('u'),
        userName,
        device: { id: newId('d'), signPub: req.signPub, encPub: req.encPub, status: 'active', createdAt: at },
      });
      if (!outcome.ok) {
        switch (outcome.reason) {
          case 'not_found':
            throw new AppError('not_found', 'unknown invite code');
          case 'used':
            throw new AppError('invite_used', 'this invite has been used already');
          case 'expired':
            throw new AppError('invite_expired', 'this invite has expired');
          case 'user_inactive':
            throw new AppError('forbidden', 'the account this invite is for is deactivated');
        }
      }
      const org = await store.getOrg();
      if (!org) throw new Error('register: organisation missing');
      reply(ctx, 201, {
        orgId: org.id,
        orgName: org.name,
        userId: outcome.user.id,
        deviceId: outcome.device.id,
        name: outcome.user.name,
        role: outcome.user.role,
        bootstrap: outcome.invite.bootstrap,
      });
      later(ctx, () => hub.broadcast({ type: 'directory' }));
    }),
  );

  router.post(
    '/v1/auth/challenge',
    open(async (ctx) => {
      const req = await body(ctx, ChallengeRequest);
      reply(ctx, 200, await auth.challenge(req.deviceId));
    }),
  );

  router.post(
    '/v1/auth/token',
    open(async (ctx) => {
      const req = await body(ctx, TokenRequest);
      reply(ctx, 200, await auth.token(req));
    }),
  );

  router.get(
    '/v1/me',
    authed(async (ctx, who) => {
      const departments = await store.listUserDepartments(who.user.id);
      reply(ctx, 200, { user: userView(who.user, departments), device: deviceView(who.device) });
    }),
  );

  router.get(
    '/v1/directory',
    authed(async (ctx) => {
      const [users, devices, depts] = await Promise.all([store.listUsers(), store.listDevices(), departmentsByUser(store)]);
      const answer: DirectoryResponse = {
        users: users.map((u) => userView(u, depts.get(u.id) ?? [])),
        devices: devices.map(deviceView),
      };
      reply(ctx, 200, answer);
    }),
  );
}
