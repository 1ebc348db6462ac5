/** Organisation info, enrolment with an invite, sign-in, and the directory of people and devices. */
import { deviceEnrolmentMessage, type EnrolVia } from '@agora/protocol/kt';
import {
  ChallengeRequest, PROTOCOL_VERSION, RegisterRequest, TokenRequest, b64uBytes, fromB64u,
  type DirectoryResponse, type InviteInfoResponse,
} from '@agora/protocol';
import { verifyEd25519 } from '../auth.js';
import { AppError } from '../errors.js';
import type { DeviceRow, InviteRow, Store, UserRow } from '../store/types.js';
import { deviceView, userView } from '../views.js';
import { body, idParam, reply, type RouteKit } from './context.js';
import { withUniqueName } from './names.js';

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

/** The directory as the relay shows it: everyone, or (`rows`) only these people and devices. */
export async function directoryAnswer(store: Store, rows?: { users: UserRow[]; devices: DeviceRow[] }): Promise<DirectoryResponse> {
  if (!rows) {
    const [users, devices, depts] = await Promise.all([store.listUsers(), store.listDevices(), departmentsByUser(store)]);
    return { users: users.map((u) => userView(u, depts.get(u.id) ?? [])), devices: devices.map(deviceView) };
  }
  const users = await Promise.all(rows.users.map(async (u) => userView(u, await store.listUserDepartments(u.id))));
  return { users, devices: rows.devices.map(deviceView) };
}

const CodeHash = b64uBytes(32);

/** An invite that can still be used at `at`, or the reason it cannot. */
async function usableInvite(store: Store, codeHashB64u: string, at: number): Promise<InviteRow> {
  const invite = await store.getInvite(hex(fromB64u(codeHashB64u)));
  if (!invite) throw new AppError('not_found', 'unknown invite code');
  if (invite.usedAt !== null) throw new AppError('invite_used', 'this invite has been used already');
  if (invite.expiresAt <= at) throw new AppError('invite_expired', 'this invite has expired');
  return invite;
}

export function accountRoutes({ router, deps, authed, open, later }: RouteKit): void {
  const { store, hub, auth, now, kt } = deps;

  router.get(
    '/v1/invites/:codeHash',
    open(async (ctx) => {
      // Whoever holds the code asks what it is for (and for a further device, for whom) before
      // signing the enrolment, which names the person.
      const codeHash = idParam(ctx, 'codeHash', CodeHash, 'invite');
      const invite = await usableInvite(store, codeHash, now());
      const answer: InviteInfoResponse = {
        kind: invite.kind, bootstrap: invite.bootstrap, userId: invite.userId, name: invite.name, role: invite.role,
        departmentId: invite.departmentId, expiresAt: invite.expiresAt, invitePub: invite.invitePub,
        approverDeviceId: invite.approverDeviceId, approval: invite.approval,
      };
      reply(ctx, 200, answer);
    }),
  );

  router.get('/v1/info', async (ctx) => {
    const org = await store.getOrg();
    if (!org) throw new AppError('not_found', 'the organisation is not set up yet');
    reply(ctx, 200, { orgId: org.id, orgName: org.name, version: PROTOCOL_VERSION });
  });

  router.post(
    '/v1/register',
    open(async (ctx) => {
      const req = await body(ctx, RegisterRequest);
      const message = deviceEnrolmentMessage({
        userId: req.userId, deviceId: req.deviceId, signPub: fromB64u(req.signPub), encPub: fromB64u(req.encPub),
      });
      if (!verifyEd25519(req.signPub, message, req.deviceSig)) {
        throw new AppError('bad_signature', 'deviceSig does not verify with signPub');
      }
      const invite = await usableInvite(store, req.codeHash, now());
      if (!verifyEd25519(invite.invitePub, message, req.inviteSig)) {
        throw new AppError('bad_signature', 'inviteSig does not verify with the invite key');
      }
      if (invite.kind === 'device') {
        if (req.userId !== invite.userId) throw new AppError('invalid_field', 'userId: the invite is for another person', { field: 'userId' });
      } else if (await store.getUser(req.userId)) {
        throw new AppError('conflict', 'userId: taken; choose another');
      }
      if (await store.getDevice(req.deviceId)) throw new AppError('conflict', 'deviceId: taken; choose another');
      // The administrator named the person on a user invite; only the first admin names themselves.
      const userName = invite.kind === 'device' ? null : invite.bootstrap ? (req.name ?? 'Admin') : invite.name;
      const via: EnrolVia = invite.bootstrap ? 'bootstrap' : invite.kind === 'device' ? 'device-invite' : 'user-invite';
      const at = now();
      const outcome = await kt.write(async (draft) => {
        if (invite.kind === 'user') {
          draft.userCreated({
            userId: req.userId, name: userName ?? invite.name ?? '', role: invite.bootstrap ? 'admin' : (invite.role ?? 'member'),
            approvedByDevice: invite.approverDeviceId,
          });
        }
        draft.deviceAdded({
          userId: req.userId, deviceId: req.deviceId, signPub: fromB64u(req.signPub), encPub: fromB64u(req.encPub), via,
          invitePub: fromB64u(invite.invitePub), approverDeviceId: invite.approverDeviceId, approval: fromB64u(invite.approval),
          inviteSig: fromB64u(req.inviteSig), deviceSig: fromB64u(req.deviceSig),
        });
        // Person names are unique; the store's unique key decides between two racing invites.
        return withUniqueName('name', () => store.register({
          codeHash: invite.codeHash,
          now: at,
          userId: req.userId,
          userName,
          device: { id: req.deviceId, signPub: req.signPub, encPub: req.encPub, status: 'active', createdAt: at },
          kt: draft.seal(),
        }));
      }, (o) => o.ok);
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
      reply(ctx, 200, await directoryAnswer(store));
    }),
  );
}
