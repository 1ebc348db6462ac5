/** The sync operation: everything a device does to catch up and keep its groups in order. */
import * as api from '@agora/protocol/api';
import type { Op } from './op.js';
import type { Machine } from './machine.js';
import type { SyncReport } from './types.js';
import { approvedDevicesOf, fetchSync, user } from './directory.js';
import { fetchGroups, groupOfMine, localGroup } from './groups.js';
import { topUpKeyPackages } from './keypackages.js';
import { sendHistoryTo, syncMailbox } from './mailbox.js';
import { checkMemberships, initReservedGroup, maintainSecretGroup, updateCommit, updateDue } from './membership.js';
import { syncOrgKeys } from './orgkeys.js';
import { syncGroupLog, view } from './records.js';

/** `fetched`: the sync answer the caller started its operation from (else one is fetched). */
export function syncUnlocked(mc: Machine, only?: string, fetched?: api.SyncResponse): Op<SyncReport> {
  // A sync from its own fetch applies what the push channel announced before it started (the
  // device may then send in one request, see Machine.isCurrent); one from an answer fetched
  // earlier may predate an announcement.
  return fetched ? syncFrom(mc, only, fetched) : mc.catchUp(syncFrom(mc, only));
}

async function* syncFrom(mc: Machine, only?: string, fetched?: api.SyncResponse): Op<SyncReport> {
  mc.warnings = [];
  const answer = fetched ?? (yield* fetchSync(mc));
  yield* mc.trust.monitorSelf();
  yield* syncOrgKeys(mc, { fetched: answer });
  yield* syncMailbox(mc, answer.mailbox);
  const groups = yield* fetchGroups(mc, answer.groups);
  const newMessages: SyncReport['newMessages'] = [];
  const initialised = new Set<string>();
  for (const g of groups) {
    if (g.kind === 'secret' && g.epoch === null && g.departmentId) {
      const dept = user(mc, mc.state.userId)?.departments ?? [];
      if (dept.includes(g.departmentId)) {
        yield* initReservedGroup(mc, g);
        initialised.add(g.id);
      }
    }
  }
  for (const g of groups) {
    if (only && g.id !== only) continue;
    if (!groupOfMine(mc, g) && !(only && g.kind === 'public')) continue;
    localGroup(mc, g);
    // Only logs that moved are read; one this sync just created has no head in the answer yet.
    const msgs = yield* syncGroupLog(mc, g.id, initialised.has(g.id) ? undefined : g.head);
    for (const m of msgs) newMessages.push({ groupId: g.id, message: view(mc, m) });
    if (g.kind === 'secret') yield* maintainSecretGroup(mc, g);
    const local = mc.state.groups[g.id];
    if (g.kind === 'secret' && local?.mls && !local.removed && updateDue(mc, local)) {
      try {
        yield* updateCommit(mc, g);
      } catch (e) {
        mc.warnings.push(`${local.name}: the periodic update commit failed (${(e as Error).message}); it is tried again on the next sync`);
      }
    }
  }
  yield* checkMemberships(mc);
  // History goes only to devices this person vouched for (device link or approval), not to one
  // an administrator's invite put on their account.
  for (const d of approvedDevicesOf(mc, mc.state.userId)) {
    if (d.id === mc.state.deviceId || mc.state.historySentTo.includes(d.id)) continue;
    try {
      yield* sendHistoryTo(mc, d);
    } catch (e) {
      mc.warnings.push(`could not hand your history to your device ${d.id}: ${(e as Error).message}`);
    }
  }
  yield* topUpKeyPackages(mc, false, answer.keyPackages);
  return { newMessages, warnings: [...mc.trust.raised.map((a) => `ALARM: ${a.message}`), ...mc.warnings, ...groupWarnings(mc, only)] };
}

export function groupWarnings(mc: Machine, only?: string): string[] {
  const out: string[] = [];
  for (const g of Object.values(mc.state.groups)) {
    if (only && g.id !== only) continue;
    for (const gap of g.gaps) out.push(`${g.name}: records ${gap.from}–${gap.to} from device ${gap.senderDevice} never arrived`);
  }
  return out;
}
