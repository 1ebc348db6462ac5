/** Groups as the device shows and finds them: names (a secret group's from its log), lookup by id
 * or name, departments. */
import * as api from '@agora/protocol/api';
import { LIMITS } from '@agora/protocol';
import { nameProblem, sameName } from '@agora/protocol/names';
import { AgoraError } from '../core/errors.js';
import { type GroupLocal, emptyGroup } from '../core/state.js';
import { MAX_DESCRIPTION_CHARS, type MetaBody } from '../crypto/records.js';
import { type Op, ask } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import type { GroupSummary, NamedGroup } from './types.js';
import { syncMailbox } from './mailbox.js';
import { syncGroupLog } from './records.js';

/** `fetched`: the list as a sync answer gave it. */
export async function* fetchGroups(mc: Machine, fetched?: api.GroupView[]): Op<NamedGroup[]> {
  const groups = fetched ?? (yield* ask(req.groups())).groups;
  for (const g of groups) {
    const local = mc.state.groups[g.id];
    if (local) {
      // A secret group's name comes from its members' meta record, never from the relay.
      if (g.kind === 'public' && g.name !== null) local.name = g.name;
      local.departmentId = g.departmentId;
    }
  }
  return groups.map((g) => named(mc, g, groups));
}

/** The name a group is shown and found by. A public group's is the relay's (public anyway); a
 * secret group's is the latest meta record its members wrote into its log, which only members
 * can read. A department's secret group nobody named yet is called after the department. */
export function named(mc: Machine, g: api.GroupView, all: api.GroupView[] = []): NamedGroup {
  if (g.kind === 'public') return { ...g, name: g.name ?? g.id };
  const local = mc.state.groups[g.id]?.name;
  if (local) return { ...g, name: local };
  const department = g.departmentId === null ? undefined : all.find((x) => x.kind === 'public' && x.departmentId === g.departmentId);
  return { ...g, name: department?.name ? `${department.name} (secret)` : `secret group ${g.id}` };
}

export function resolveGroupIn(mc: Machine, groups: NamedGroup[], ref: string): NamedGroup {
  const byId = groups.find((g) => g.id === ref);
  if (byId) return byId;
  const byName = groups.filter((g) => sameName(g.name, ref));
  if (byName.length === 1) return byName[0];
  if (byName.length > 1) throw new AgoraError('ambiguous', `several groups are named "${ref}": use the group id`);
  throw new AgoraError('no_such_group', `no group "${ref}" that you can see`);
}

/** Resolves a group the caller can see; for a group id it cannot see, says whether it exists. */
export async function* findGroup(mc: Machine, ref: string, fetched?: api.SyncResponse): Op<NamedGroup> {
  let groups = yield* fetchGroups(mc, fetched?.groups);
  const byName = api.GroupId.safeParse(ref).success ? undefined : groups.filter((g) => sameName(g.name, ref));
  if (byName?.length === 0 && groups.some((g) => g.kind === 'secret' && g.isMember)) {
    // A secret group's name is in its log: one this device just joined (a Welcome waiting) or
    // that was renamed since is found only after reading it.
    yield* syncMailbox(mc, fetched?.mailbox);
    for (const g of groups) if (g.kind === 'secret' && groupOfMine(mc, g)) yield* syncGroupLog(mc, g.id, fetched ? g.head : undefined);
    groups = groups.map((g) => named(mc, g, groups));
  }
  try {
    return resolveGroupIn(mc, groups, ref);
  } catch (e) {
    if (!(e instanceof AgoraError && e.code === 'no_such_group') || !api.GroupId.safeParse(ref).success) throw e;
  }
  try {
    return named(mc, yield* ask(req.group(ref)));
  } catch (e) {
    if (e instanceof AgoraError && e.code === 'forbidden') {
      throw new AgoraError('not_a_member', `you are not a member of the secret group ${ref}`);
    }
    if (e instanceof AgoraError && e.code === 'not_found') throw new AgoraError('no_such_group', `no group "${ref}"`);
    throw e;
  }
}

export function localGroup(mc: Machine, g: api.GroupView): GroupLocal {
  // A secret group's local name stays empty until a meta record names it.
  const name = g.kind === 'public' ? (g.name ?? '') : '';
  return (mc.state.groups[g.id] ??= emptyGroup({ id: g.id, name, kind: g.kind, departmentId: g.departmentId }));
}

export function groupOfMine(mc: Machine, g: api.GroupView): boolean {
  if (g.kind === 'public') return g.isMember;
  const local = mc.state.groups[g.id];
  return Boolean(local?.mls && !local.removed);
}

export function summary(mc: Machine, g: NamedGroup): GroupSummary {
  const isMember = g.kind === 'secret' ? groupOfMine(mc, g) : g.isMember;
  const description = g.kind === 'secret' ? mc.state.groups[g.id]?.description : null;
  return {
    id: g.id, name: g.name, kind: g.kind, departmentId: g.departmentId, isMember, epoch: g.epoch, members: g.members.length, createdBy: g.createdBy,
    ...(description ? { description } : {}),
  };
}

export async function* resolveDepartment(mc: Machine, ref: string): Op<string> {
  const { departments } = yield* ask(req.departments());
  const hit = departments.filter((d) => d.id === ref || sameName(d.name, ref));
  if (hit.length !== 1) throw new AgoraError(hit.length ? 'ambiguous' : 'not_found', `no single department "${ref}"`);
  return hit[0].id;
}

/** A name and description as the relay and every reader will accept them (refused here, with the
 * reason, rather than by the relay or by the group's members). */
export function checkedMeta(mc: Machine, name: string, description?: string): MetaBody {
  const trimmed = name.trim();
  const problem = trimmed.length === 0 ? 'must not be empty' : trimmed.length > LIMITS.nameChars ? `must be at most ${LIMITS.nameChars} characters` : nameProblem(trimmed);
  if (problem) throw new AgoraError('usage', `name: ${problem}`);
  if (description !== undefined && description.length > MAX_DESCRIPTION_CHARS) {
    throw new AgoraError('usage', `description: must be at most ${MAX_DESCRIPTION_CHARS} characters`);
  }
  return description === undefined ? { name: trimmed } : { name: trimmed, description };
}
