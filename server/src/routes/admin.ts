/** Invites, departments and deactivation: the administrator's work (and a person's own device
 * invites). None of it touches secret-group membership, which only members' commits change. */
import { inviteApprovalMessage, roleChangeMessage } from '@agora/protocol/kt';
import {
  AddDepartmentMemberRequest, ChangeRoleRequest, CreateDepartmentRequest, CreateInviteRequest, DepartmentId, LIMITS, RenameRequest, UserId,
  fromB64u, newId, wsCloseCode,
} from '@agora/protocol';
import { verifyEd25519 } from '../auth.js';
import { AppError } from '../errors.js';
import type { DepartmentRow, GroupRow, InviteRow, Store } from '../store/types.js';
import { departmentView, userView } from '../views.js';
import { hex } from './account.js';
import { requireFreePersonName, withUniqueName } from './names.js';
import { body, idParam, noBody, reply, requireAdmin, type RouteKit } from './context.js';

export const ROTATION_META = 'orgkey-rotation-needed';

async function activeUserField(store: Store, userId: string, field: string) {
  const user = await store.getUser(userId);
  if (!user) throw new AppError('invalid_field', `${field}: no such user`, { field });
  if (user.status !== 'active') throw new AppError('invalid_field', `${field}: this person is deactivated`, { field });
  return user;
}

export function adminRoutes({ router, deps, authed, later }: RouteKit): void {
  const { store, hub, now, kt } = deps;

  router.post(
    '/v1/invites',
    authed(async (ctx, who) => {
      // The creating device made the code; the relay stores its hash, the invite's public key and
      // the device's approval, which the log will show next to the device the invite enrols.
      const req = await body(ctx, CreateInviteRequest);
      const at = now();
      const base = {
        codeHash: hex(fromB64u(req.codeHash)), bootstrap: false, createdBy: who.user.id, createdAt: at,
        expiresAt: at + (req.ttlMs ?? LIMITS.inviteTtlMs), usedAt: null,
        invitePub: req.invitePub, approverDeviceId: who.device.id, approval: req.approval,
      };
      let invite: InviteRow;
      if (req.kind === 'user') {
        requireAdmin(who);
        if (req.departmentId !== undefined && !(await store.getDepartment(req.departmentId))) {
          throw new AppError('invalid_field', 'departmentId: no such department', { field: 'departmentId' });
        }
        await requireFreePersonName(store, req.name, 'name');
        invite = { ...base, kind: 'user', name: req.name, role: req.role, departmentId: req.departmentId ?? null, userId: null };
      } else {
        const userId = req.userId ?? who.user.id;
        if (userId !== who.user.id) requireAdmin(who);
        await activeUserField(store, userId, 'userId');
        invite = { ...base, kind: 'device', name: null, role: null, departmentId: null, userId };
      }
      const approved = inviteApprovalMessage(
        invite.kind === 'user'
          ? { invitePub: fromB64u(req.invitePub), kind: 'user', name: invite.name!, role: invite.role! }
          : { invitePub: fromB64u(req.invitePub), kind: 'device', userId: invite.userId! },
      );
      if (!verifyEd25519(who.device.signPub, approved, req.approval)) {
        throw new AppError('invalid_field', 'approval: does not verify with this device\'s key', { field: 'approval' });
      }
      if (await store.getInvite(invite.codeHash)) throw new AppError('conflict', 'codeHash: an invite with this code exists');
      await store.createInvite(invite);
      reply(ctx, 201, { expiresAt: invite.expiresAt, kind: invite.kind });
    }),
  );

  router.post(
    '/v1/departments',
    authed(async (ctx, who) => {
      requireAdmin(who);
      const req = await body(ctx, CreateDepartmentRequest);
      const at = now();
      const group = (name: string, kind: 'public' | 'secret', departmentId: string): GroupRow => ({
        id: newId('g'), name, kind, departmentId, epoch: null, createdBy: who.user.id, createdAt: at, head: 0,
      });
      const id = newId('dep');
      const pub = group(req.name, 'public', id);
      // The reserved secret group has no name on the relay; clients call it after the department.
      const secret: GroupRow = { ...group(req.name, 'secret', id), name: null };
      const dept: DepartmentRow = { id, name: req.name, publicGroupId: pub.id, secretGroupId: secret.id, createdAt: at };
      await withUniqueName('name', () => store.createDepartment(dept, pub, secret));
      reply(ctx, 201, departmentView(dept, []));
      later(ctx, () => hub.broadcast({ type: 'groups' }));
    }),
  );

  // Adding and removing a department member: the same checks, one store call apart; a person
  // joins only while active, and leaves whatever their status.
  const departmentMember = (change: 'add' | 'remove') =>
    authed(async (ctx, who) => {
      requireAdmin(who);
      const id = idParam(ctx, 'id', DepartmentId, 'department');
      const req = await body(ctx, AddDepartmentMemberRequest);
      const dept = await store.getDepartment(id);
      if (!dept) throw new AppError('not_found', 'no such department');
      if (change === 'add') {
        await activeUserField(store, req.userId, 'userId');
        await store.addDepartmentMember(id, req.userId);
      } else {
        await store.removeDepartmentMember(id, req.userId);
      }
      reply(ctx, 200, departmentView(dept, await store.listDepartmentMembers(id)));
      later(ctx, () => {
        hub.broadcast({ type: 'groups' });
        hub.broadcast({ type: 'directory' });
      });
    });
  router.post('/v1/departments/:id/members', departmentMember('add'));
  router.post('/v1/departments/:id/members/remove', departmentMember('remove'));

  router.post(
    '/v1/departments/:id/rename',
    authed(async (ctx, who) => {
      requireAdmin(who);
      const id = idParam(ctx, 'id', DepartmentId, 'department');
      const req = await body(ctx, RenameRequest);
      // The department's public group carries its name, so both change together.
      if (!(await withUniqueName('name', () => store.renameDepartment(id, req.name)))) {
        throw new AppError('not_found', 'no such department');
      }
      const dept = (await store.getDepartment(id))!;
      reply(ctx, 200, departmentView(dept, await store.listDepartmentMembers(id)));
      later(ctx, () => hub.broadcast({ type: 'groups' }));
    }),
  );

  router.post(
    '/v1/departments/:id/delete',
    authed(async (ctx, who) => {
      requireAdmin(who);
      const id = idParam(ctx, 'id', DepartmentId, 'department');
      await noBody(ctx);
      // Only an empty department goes: removing people from a department is a decision about
      // each of them, not a side effect. Its public group goes with it; a secret group its
      // members created stays theirs.
      const outcome = await store.deleteDepartment(id);
      if (outcome === 'not_found') throw new AppError('not_found', 'no such department');
      if (outcome === 'has_members') {
        throw new AppError('conflict', 'this department still has members: move them to another department first');
      }
      reply(ctx, 200, { deleted: true });
      later(ctx, () => hub.broadcast({ type: 'groups' }));
    }),
  );

  router.get(
    '/v1/departments',
    authed(async (ctx) => {
      const depts = await store.listDepartments();
      const departments = await Promise.all(
        depts.map(async (d) => departmentView(d, await store.listDepartmentMembers(d.id))),
      );
      reply(ctx, 200, { departments });
    }),
  );

  // A role is a key-transparency fact: clients and the audit read who is an administrator from the
  // log, so the relay logs the administrator's signed ROLE_CHANGED and changes its own record in
  // one transaction, and its own admin checks follow from then on. An administrator may change
  // their own role as long as another active administrator remains; the last one may not be demoted.
  router.post(
    '/v1/admin/users/:id/role',
    authed(async (ctx, who) => {
      requireAdmin(who);
      const id = idParam(ctx, 'id', UserId, 'user');
      const req = await body(ctx, ChangeRoleRequest);
      const target = await store.getUser(id);
      if (!target) throw new AppError('not_found', 'no such user');
      if (target.status !== 'active') throw new AppError('conflict', 'this person is deactivated');
      if (target.role === req.role) throw new AppError('conflict', `role: this person is ${req.role} already`, { field: 'role' });
      const nonce = fromB64u(req.nonce);
      const signature = fromB64u(req.signature);
      if (!verifyEd25519(who.device.signPub, roleChangeMessage({ userId: id, role: req.role, nonce }), req.signature)) {
        throw new AppError('invalid_field', 'signature: does not verify with this device\'s key', { field: 'signature' });
      }
      let logged = false;
      const outcome = await kt.write(async (draft) => {
        logged = false;
        const state = draft.user(id);
        const signer = draft.user(who.user.id);
        // Verifiers check the change against the log: a person or signing device it does not show
        // would make an entry every client refuses.
        if (!state || !signer?.devices.has(who.device.id)) throw new AppError('conflict', 'the key-transparency log does not show this person or this device');
        if (state.roleNonces.has(Buffer.from(nonce).toString('hex'))) throw new AppError('invalid_field', 'nonce: used for this person before', { field: 'nonce' });
        draft.roleChanged(id, { role: req.role, nonce, approverDeviceId: who.device.id, signature });
        const result = await store.setUserRole(id, req.role, draft.seal());
        logged = result === 'changed';
        return result;
      }, () => logged);
      if (outcome === 'last_admin') {
        throw new AppError('conflict', 'role: this is the last active administrator; make someone else administrator first', { field: 'role' });
      }
      if (outcome === 'not_active') throw new AppError('conflict', 'this person is deactivated');
      if (outcome === 'unchanged') throw new AppError('conflict', `role: this person is ${req.role} already`, { field: 'role' });
      const user = (await store.getUser(id))!;
      reply(ctx, 200, { user: userView(user, await store.listUserDepartments(id)) });
      later(ctx, () => hub.broadcast({ type: 'directory' }));
    }),
  );

  router.post(
    '/v1/admin/users/:id/deactivate',
    authed(async (ctx, who) => {
      requireAdmin(who);
      const id = idParam(ctx, 'id', UserId, 'user');
      await noBody(ctx);
      if (id === who.user.id) throw new AppError('bad_request', 'you cannot deactivate yourself');
      const target = await store.getUser(id);
      if (!target) throw new AppError('not_found', 'no such user');
      let changed = false;
      let revokedDevices: string[] = [];
      if (target.status === 'active') {
        // The log gets the revocation of each active device, then the deactivation, in the same
        // transaction; a concurrent deactivation by another admin finds nothing left to log.
        let logged = false;
        revokedDevices = await kt.write(async (draft) => {
          changed = false;
          logged = false;
          const state = draft.user(id);
          // a person the log never saw (a database from before the log) has nothing to log against
          if (!state) {
            changed = true;
            return store.deactivateUser(id);
          }
          if (state.deactivated) return [];
          const revoking = [...state.devices.keys()];
          for (const deviceId of revoking) draft.deviceRevoked(id, deviceId, who.user.id);
          draft.userDeactivated(id, who.user.id);
          const revoked = await store.deactivateUser(id, { append: draft.seal(), revoking });
          changed = logged = true;
          return revoked;
        }, () => logged);
      }
      if (changed) {
        // Everyone who had the organisation key until now includes the leaver.
        await store.setMeta(ROTATION_META, '1');
      }
      const user = (await store.getUser(id)) ?? target;
      reply(ctx, 200, { user: userView(user, await store.listUserDepartments(id)), revokedDevices });
      if (changed) {
        // Revoked sockets close at once; the others hear about it after the answer.
        const devices = await store.listDevices({ userId: id });
        hub.closeDevices(devices.map((d) => d.id), wsCloseCode('forbidden'), 'device revoked');
        later(ctx, () => {
          hub.broadcast({ type: 'directory' });
          hub.broadcast({ type: 'orgkeys' });
        });
      }
    }),
  );
}
