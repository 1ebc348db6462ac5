/** The device's mailbox: Welcomes into secret groups and history bundles from this person's other
 * devices, and sending such bundles. */
import * as api from '@agora/protocol/api';
import { fromB64u, fromUtf8, toB64u, utf8 } from '@agora/protocol/encoding';
import { emptyGroup } from '../core/state.js';
import { decodeWelcomeInfo } from '../core/roles.js';
import { membershipCheckFor } from '../core/membership.js';
import { openFromDevice, sealToDevice } from '../crypto/orgkeys.js';
import { exportContentKey, groupInfo } from '../mls/index.js';
import { type Op, ask } from './op.js';
import { req } from './requests.js';
import type { Machine } from './machine.js';
import { HISTORY_FORMAT } from './types.js';
import { selfKeys, withVerifiedLookup } from './directory.js';
import { revokedOwnDevices } from './membership.js';
import { loggedGeneration, orgKeyMatchesLog, orgKeySourceAllowed, sealerKey } from './orgkeys.js';

/** `fetched`: the first page as a sync answer gave it (items this device took since are skipped). */
export async function* syncMailbox(mc: Machine, fetched?: api.SyncResponse['mailbox']): Op<void> {
  let page = fetched;
  for (;;) {
    const items = page ? page.items.filter((i) => i.seq > mc.state.mailboxCursor) : (yield* ask(req.mailbox(mc.state.mailboxCursor))).items;
    const more = page ? page.more : items.length > 0;
    page = undefined;
    if (items.length === 0 && !more) return;
    yield* mc.trust.ensureDevices(items.map((i) => i.from));
    for (const item of items) {
      mc.state.mailboxCursor = item.seq;
      if (item.kind === 'welcome' && item.groupId) yield* acceptWelcome(mc, item);
      else if (item.kind === 'history') yield* acceptHistory(mc, item);
    }
    if (!more) return;
  }
}

export async function* acceptWelcome(mc: Machine, item: api.MailboxItem): Op<void> {
  const groupId = item.groupId!;
  try {
    // The relay's member list is only a hint of whom to verify first; MLS then checks every leaf.
    let hint: api.GroupView | undefined;
    try {
      hint = yield* ask(req.group(groupId));
    } catch {
      hint = undefined;
    }
    if (hint) yield* mc.trust.ensureDevices(hint.memberDevices);
    const joined = yield* withVerifiedLookup(mc, async (lookup) => (await mc.mls()).joinFromWelcome(item.payload, mc.state.keyPackages, lookup));
    if (joined.groupId !== groupId) throw new Error('welcome for another group');
    const used = mc.state.keyPackages.find((k) => k.ref === joined.usedRef);
    if (used && !used.lastResort) mc.state.keyPackages = mc.state.keyPackages.filter((k) => k.ref !== joined.usedRef);
    const previous = mc.state.groups[groupId];
    const group = previous ?? emptyGroup({ id: groupId, name: '', kind: 'secret', departmentId: null });
    const joinSeq = item.groupSeq ?? 0;
    // Content keys are kept by the relay's epoch, which runs ahead of the MLS epoch by the
    // commits the members voided: the commit that added this device says which one starts here.
    // (A relay that lies about it only makes records fail to open here, visibly.)
    const { entries } = yield* ask(req.log(groupId, Math.max(0, joinSeq - 1), 1));
    const joinCommit = entries.find((e) => e.seq === joinSeq && e.kind === 'commit');
    const epoch = joinCommit ? joinCommit.epoch + 1 : joined.epoch;
    group.mls = toB64u(joined.state);
    group.removed = false;
    group.epochKeys[String(epoch)] = toB64u(await exportContentKey(joined.state));
    group.logEpoch = epoch;
    group.cursorEpoch = epoch;
    group.lastCommitSeq = joinSeq;
    // The tree this device joined must be the one the log commits to for that epoch.
    group.membershipChecks.push(await membershipCheckFor(joined.state, epoch, joinCommit?.sender ?? item.from));
    // The adder's Welcome says who the owners are (and what the group is called), so this device
    // applies the owner rule from the first commit on, as every other member does. A Welcome
    // without it (an older release) leaves it to the next commit, which states the set.
    const info = joined.welcomeInfo ? decodeWelcomeInfo(joined.welcomeInfo, new Set(groupInfo(joined.state).members.map((m) => m.userId))) : undefined;
    group.owners = info?.owners ?? [];
    if (info?.name !== undefined) {
      group.name = info.name;
      group.description = info.description ?? null;
    }
    group.pcs = { at: mc.now(), sent: 0, revokedOwn: revokedOwnDevices(mc) };
    group.cursor = Math.max(previous?.removed ? group.cursor : 0, joinSeq);
    // Entries before the join are read again if a history bundle gives their keys.
    group.readableFrom = joinSeq;
    mc.state.groups[groupId] = group;
  } catch (e) {
    mc.warnings.push(`could not join group ${groupId} from its Welcome: ${(e as Error).message}`);
  }
}

export async function* acceptHistory(mc: Machine, item: api.MailboxItem): Op<void> {
  const sender = mc.trust.device(item.from);
  if (!sender || sender.userId !== mc.state.userId) {
    mc.warnings.push('ignored a history bundle that did not come from one of your own devices');
    return;
  }
  try {
    const { payload } = await openFromDevice({ purpose: 'history', sealed: item.payload, self: selfKeys(mc), sealerSignPub: sealerKey(mc) });
    const bundle = JSON.parse(fromUtf8(payload)) as { format: string; groups: Record<string, { name: string; kind: 'secret' | 'public'; epochKeys: Record<string, string> }>; orgKeys: Record<string, string>; orgKeyIndexes?: Record<string, number> };
    if (bundle.format !== HISTORY_FORMAT) throw new Error('unknown history format');
    yield* acceptHistoryOrgKeys(mc, item.from, bundle.orgKeys ?? {}, bundle.orgKeyIndexes ?? {});
    for (const [groupId, g] of Object.entries(bundle.groups)) {
      const local = (mc.state.groups[groupId] ??= emptyGroup({ id: groupId, name: g.name, kind: g.kind, departmentId: null }));
      let gained = false;
      for (const [epoch, key] of Object.entries(g.epochKeys)) {
        if (!local.epochKeys[epoch]) {
          local.epochKeys[epoch] = key;
          gained = true;
        }
      }
      if (gained) {
        // Re-read from the person's join point (the relay clamps to it): records refused for
        // want of a key open now.
        local.cursor = 0;
        local.readableFrom = 0;
        // The log starts at epoch 0; the commits read again move it on from there.
        local.cursorEpoch = 0;
        local.rejected = local.rejected.filter((r) => !r.reason.startsWith('no key'));
      }
    }
  } catch (e) {
    mc.warnings.push(`a history bundle could not be opened: ${(e as Error).message}`);
  }
}

/** Organisation keys from a history bundle pass the same checks as keys from envelopes: the
 * generation's entry proven in the log (at the position the bundle names when it is older than
 * this device's scan), the sending device allowed to hand it over, the key the logged one. A
 * generation already held keeps its key. */
export async function* acceptHistoryOrgKeys(mc: Machine, from: string, orgKeys: Record<string, string>, indexes: Record<string, number>): Op<void> {
  const source = 'a history bundle';
  for (const [gen, encoded] of Object.entries(orgKeys)) {
    const g = Number(gen);
    if (!Number.isSafeInteger(g) || g < 1 || String(g) !== gen || mc.state.orgKeys[gen]) continue;
    let key: Uint8Array;
    try {
      key = fromB64u(encoded);
    } catch {
      key = new Uint8Array(0);
    }
    const index = indexes[gen];
    const logged = yield* loggedGeneration(mc, g, Number.isSafeInteger(index) ? index : undefined);
    if (!logged) {
      mc.warnings.push(`organisation key generation ${g} from a history bundle was ignored: the key-transparency log does not prove that generation`);
      continue;
    }
    if (key.length !== 32) {
      mc.trust.alarm('orgkey_substitution', `${source} from device ${from} held a malformed key for organisation-key generation ${g}: refused`);
      continue;
    }
    if (!orgKeySourceAllowed(mc, g, logged, from, source) || !orgKeyMatchesLog(mc, g, logged, key, from, source)) continue;
    mc.state.orgKeys[gen] = toB64u(key);
  }
}

export async function* sendHistoryTo(mc: Machine, target: api.Device): Op<void> {
  const groups: Record<string, { name: string; kind: 'secret' | 'public'; epochKeys: Record<string, string> }> = {};
  for (const g of Object.values(mc.state.groups)) {
    if (g.kind === 'secret' && g.mls && !g.removed) groups[g.id] = { name: g.name, kind: g.kind, epochKeys: g.epochKeys };
  }
  // Where each generation sits in the log, for a recipient whose own scan starts later.
  const orgKeyIndexes = Object.fromEntries(Object.keys(mc.state.orgKeys).flatMap((g) => {
    const index = mc.state.kt.orgKeyLog?.generations[g]?.index;
    return index === undefined ? [] : [[g, index]];
  }));
  const payload = utf8(JSON.stringify({ format: HISTORY_FORMAT, groups, orgKeys: mc.state.orgKeys, orgKeyIndexes }));
  const sealed = await sealToDevice({
    purpose: 'history',
    payload,
    recipient: { deviceId: target.id, encPub: fromB64u(target.encPub) },
    sealer: { deviceId: mc.state.deviceId, signSeed: fromB64u(mc.state.keys.signSeed) },
    random: mc.random,
  });
  yield* ask(req.sendHistory(target.id, sealed));
  mc.state.historySentTo.push(target.id);
}
