/** The key-transparency log's entries: one canonical binary encoding per change, the messages the
 * devices sign for them, and the hashes that tie entries together (per-user chains, device sets,
 * member sets, snapshot leaves). The relay builds entries from what it verified; every other party
 * decodes them with `decodeEntry`, which accepts exactly the bytes `encodeEntry` produces, so an
 * entry has one and only one encoding and its hash identifies it.
 *
 * entry = u8 version(1) ‖ u8 type ‖ u64 time(ms) ‖ body; user-scoped types continue with
 * lp16 userId ‖ u64 userSeq ‖ 32B prevHash. Integers are big-endian, strings UTF-8 in lp16.
 * GROUP_MEMBERSHIP is written as version 2 (a commitment instead of the member list, see
 * GroupMembershipEntry); version 1 membership entries of older logs still decode.
 * ORGKEY_GENERATION is written as version 2: version 1 plus a 32-byte key commitment between the
 * device-set hash and the signature; version 1 generation entries of older logs still decode. */
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { bytesEqual, concatBytes, utf8 } from '../encoding.js';
import { normaliseInvite } from '../signing.js';
import { FrameError, Reader, lp16, readU64, u16, u32, u64, u8 } from '../crypto/bytes.js';

export const ENTRY_VERSION = 1;
/** The version of GROUP_MEMBERSHIP entries written now: commitment and sealed lists, no member ids. */
export const MEMBERSHIP_ENTRY_VERSION = 2;
/** The version of ORGKEY_GENERATION entries written now: they carry the key's commitment. */
export const ORGKEY_ENTRY_VERSION = 2;

/** Type bytes on the wire. */
export const ENTRY_TYPE = {
  'user-created': 1,
  'device-added': 2,
  'device-revoked': 3,
  'user-deactivated': 4,
  'orgkey-generation': 5,
  'group-membership': 6,
  snapshot: 7,
  'device-approved': 8,
  'web-build': 9,
  'role-changed': 10,
} as const;
export type EntryType = keyof typeof ENTRY_TYPE;

export type KtRole = 'member' | 'announcer' | 'admin';
const ROLES: readonly KtRole[] = ['member', 'announcer', 'admin'];
/** How a device was enrolled; the same words as the directory's `enrolledBy`. */
export type EnrolVia = 'bootstrap' | 'user-invite' | 'device-invite';
const VIAS: readonly EnrolVia[] = ['bootstrap', 'user-invite', 'device-invite'];

export const HASH_BYTES = 32;
export const KEY_BYTES = 32;
export const SIG_BYTES = 64;
export const ZERO_HASH: Uint8Array = new Uint8Array(HASH_BYTES);
export const ZERO_SIG: Uint8Array = new Uint8Array(SIG_BYTES);

/** Fields every entry scoped to one person carries: its place in that person's hash chain. */
export interface UserScoped {
  userId: string;
  /** 1, 2, 3… per user. */
  userSeq: number;
  /** SHA-256 of the user's previous entry's bytes; 32 zero bytes for userSeq 1. */
  prevHash: Uint8Array;
}

export interface UserCreatedEntry extends UserScoped {
  type: 'user-created';
  time: number;
  name: string;
  role: KtRole;
  /** The administrator's device whose approval created the invite; '' for the bootstrap admin. */
  approvedByDevice: string;
}

export interface DeviceAddedEntry extends UserScoped {
  type: 'device-added';
  time: number;
  deviceId: string;
  signPub: Uint8Array;
  encPub: Uint8Array;
  via: EnrolVia;
  invitePub: Uint8Array;
  /** '' for bootstrap. */
  approverDeviceId: string;
  /** The approver device's signature over inviteApprovalMessage(); zeros for bootstrap. */
  approval: Uint8Array;
  /** The invite key's signature over deviceEnrolmentMessage(). */
  inviteSig: Uint8Array;
  /** The new device's own signature over deviceEnrolmentMessage(): proof of possession. */
  deviceSig: Uint8Array;
}

export interface DeviceRevokedEntry extends UserScoped {
  type: 'device-revoked';
  time: number;
  deviceId: string;
  byUserId: string;
}

export interface UserDeactivatedEntry extends UserScoped {
  type: 'user-deactivated';
  time: number;
  byUserId: string;
}

export interface OrgKeyGenerationEntry {
  type: 'orgkey-generation';
  time: number;
  generation: number;
  creatorDeviceId: string;
  /** idListHash() of the devices the generation was sealed to. */
  deviceSetHash: Uint8Array;
  /** The creator's signature over orgKeyGenerationMessage(). */
  signature: Uint8Array;
  /** orgKeyCommitment() of the generation's key (crypto/orgkeys.ts): every recipient checks the key
   * it opens against it, so an envelope cannot carry a key other than the one the creator logged.
   * Present in version-2 entries; version-1 entries of older logs have none. */
  keyCommitment?: Uint8Array;
}

/** Version 1, as older logs hold it: the member devices in the clear, readable by every reader of
 * the log. Decoded for old logs; never written any more. */
export interface LegacyGroupMembershipEntry {
  type: 'group-membership';
  time: number;
  groupId: string;
  /** The epoch the change produced (0 for the group's creation). */
  epoch: number;
  /** Member devices after the change, sorted (compareIds), no duplicates. */
  members: string[];
  committerDeviceId: string;
  /** The committer's signature over membershipMessage(groupId, epoch, memberSetHash(members)). */
  signature: Uint8Array;
}

/** The member list sealed to one auditor of the committer's policy. */
export interface SealedForAuditor {
  /** auditorKeyId() of the auditor's X25519 key. */
  auditor: Uint8Array;
  /** crypto_box_seal to the auditor's key of encodeSealedMembers({ salt, members }). */
  sealed: Uint8Array;
}

/** Version 2: who can read a secret group from `epoch` on, hidden from everyone but its members
 * (who recompute the commitment from their MLS tree and the epoch's salt) and the auditors (who
 * open their sealed copy of the list and salt and check it against the commitment). */
export interface GroupMembershipEntry {
  type: 'group-membership';
  time: number;
  groupId: string;
  /** The relay's epoch count for the group after the change (0 for the group's creation). */
  epoch: number;
  /** membershipCommitment(salt of the new epoch, member devices after the change). */
  commitment: Uint8Array;
  /** At most MAX_SEALED_AUDITORS, sorted by auditor id, no duplicates. */
  sealedForAuditors: SealedForAuditor[];
  committerDeviceId: string;
  /** The committer's signature over membershipMessage(groupId, epoch, commitment). */
  signature: Uint8Array;
}

export function isLegacyMembership(e: GroupMembershipEntry | LegacyGroupMembershipEntry): e is LegacyGroupMembershipEntry {
  return 'members' in e;
}

export interface SnapshotEntry {
  type: 'snapshot';
  time: number;
  userCount: number;
  /** RFC 6962 root over snapshotLeaf() of every user, sorted by userId. */
  snapshotRoot: Uint8Array;
}

/** One of a person's own (approved) devices approves another device on their account that was
 * enrolled with somebody else's invite (an administrator's). Until then that device is not added to
 * the person's secret groups. */
export interface DeviceApprovedEntry extends UserScoped {
  type: 'device-approved';
  time: number;
  deviceId: string;
  approverDeviceId: string;
  /** The approver device's signature over deviceApprovalMessage() of the approved device. */
  signature: Uint8Array;
}

/** An administrator changed a person's role. The approving device signs roleChangeMessage() over the
 * person, the new role and a nonce of its own choosing, so the relay can neither invent a change
 * nor replay an earlier one (a person's chain never repeats a nonce). Verifiers accept it only if
 * that device was active and its person an administrator at this point of the log. */
export interface RoleChangedEntry extends UserScoped {
  type: 'role-changed';
  time: number;
  role: KtRole;
  /** ROLE_NONCE_BYTES random bytes chosen by the approving device. */
  nonce: Uint8Array;
  approverDeviceId: string;
  /** The approving device's signature over roleChangeMessage(). */
  signature: Uint8Array;
}

export const ROLE_NONCE_BYTES = 16;

/** One file of a web-app build the relay serves: its path below the site root and SHA-256 of its bytes. */
export interface WebBuildFile {
  /** Relative, '/'-separated, checked by checkWebPath; e.g. "assets/index-abc123.js". */
  path: string;
  sha256: Uint8Array;
}

/** The relay started serving this build of the web app: every file it serves, so the log alone
 * says what code staff were given, and `agora audit` can compare the served files with it. The
 * build hash people compare is derived (kt/web-build.ts webBuildHash), not stored. */
export interface WebBuildEntry {
  type: 'web-build';
  time: number;
  /** Sorted by path (compareIds), each path once, 1 to MAX_WEB_BUILD_FILES files. */
  files: WebBuildFile[];
}

export const MAX_WEB_BUILD_FILES = 4096;
const WEB_PATH = /^[A-Za-z0-9_~@+-][A-Za-z0-9._~@+-]*(\/[A-Za-z0-9_~@+-][A-Za-z0-9._~@+-]*)*$/;

/** A path a build may contain and the relay may serve: relative, '/'-separated segments of URL-safe
 * characters, none starting with a dot (no '..', no hidden files), at most 255 bytes. */
export function isWebPath(path: string): boolean {
  return typeof path === 'string' && path.length <= 255 && WEB_PATH.test(path);
}

export type UserEntry = UserCreatedEntry | DeviceAddedEntry | DeviceRevokedEntry | UserDeactivatedEntry | DeviceApprovedEntry | RoleChangedEntry;
export type Entry = UserEntry | OrgKeyGenerationEntry | GroupMembershipEntry | LegacyGroupMembershipEntry | SnapshotEntry | WebBuildEntry;

export class EntryError extends Error {
  override name = 'EntryError';
}

export function isUserEntry(e: Entry): e is UserEntry {
  return (
    e.type === 'user-created' || e.type === 'device-added' || e.type === 'device-revoked' || e.type === 'user-deactivated' ||
    e.type === 'device-approved' || e.type === 'role-changed'
  );
}

// ---- ordering and set hashes ---------------------------------------------------------------------

/** Orders ids by their UTF-8 bytes (= code point order), the same in every language; JS's own `<`
 * compares UTF-16 code units, which differs for characters beyond the BMP. */
export function compareIds(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  if (i < a.length) return 1;
  if (j < b.length) return -1;
  return 0;
}

/** Sorted copy; refuses duplicates (a set has none) and ids containing '\n' (the separator). */
export function sortedIds(ids: readonly string[]): string[] {
  const out = [...ids].sort(compareIds);
  for (let i = 0; i < out.length; i++) {
    if (out[i].includes('\n')) throw new EntryError('an id cannot contain a newline');
    if (i > 0 && out[i] === out[i - 1]) throw new EntryError(`id ${out[i]} listed twice`);
  }
  return out;
}

/** SHA-256 of the sorted ids joined by '\n' (the empty string for none): the hash of a group's
 * member devices and of the devices an organisation-key generation was sealed to. */
export function idListHash(ids: readonly string[]): Uint8Array {
  return crypto().sha256(utf8(sortedIds(ids).join('\n')));
}
export const memberSetHash = idListHash;

export interface DeviceKeyRecord {
  deviceId: string;
  signPub: Uint8Array;
  encPub: Uint8Array;
}

/** SHA-256 over a user's ACTIVE devices sorted by id, each lp16(id) ‖ signPub ‖ encPub; an empty
 * set hashes the empty string. */
export function deviceSetHash(devices: readonly DeviceKeyRecord[]): Uint8Array {
  const sorted = [...devices].sort((x, y) => compareIds(x.deviceId, y.deviceId));
  const parts: Uint8Array[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const d = sorted[i];
    if (i > 0 && d.deviceId === sorted[i - 1].deviceId) throw new EntryError(`device ${d.deviceId} listed twice`);
    if (d.signPub.length !== KEY_BYTES || d.encPub.length !== KEY_BYTES) throw new EntryError('device keys are 32 bytes');
    parts.push(lp16(utf8(d.deviceId)), d.signPub, d.encPub);
  }
  return crypto().sha256(concatBytes(...parts));
}

/** SHA-256 of an entry's bytes: a user's chain link (prevHash) and a snapshot's userHeadHash. */
export function entryHash(entry: Uint8Array): Uint8Array {
  return crypto().sha256(entry);
}

// ---- snapshot leaves -----------------------------------------------------------------------------

export interface SnapshotLeaf {
  userId: string;
  userSeq: number;
  /** SHA-256 of the user's latest entry. */
  userHeadHash: Uint8Array;
  /** deviceSetHash() of the user's active devices. */
  deviceSetHash: Uint8Array;
}

export function encodeSnapshotLeaf(leaf: SnapshotLeaf): Uint8Array {
  checkString(leaf.userId, 'userId', false);
  checkSeq(leaf.userSeq);
  checkBytes(leaf.userHeadHash, HASH_BYTES, 'userHeadHash');
  checkBytes(leaf.deviceSetHash, HASH_BYTES, 'deviceSetHash');
  return concatBytes(lp16(utf8(leaf.userId)), u64(leaf.userSeq), leaf.userHeadHash, leaf.deviceSetHash);
}

export function decodeSnapshotLeaf(bytes: Uint8Array): SnapshotLeaf {
  return strictly(bytes, encodeSnapshotLeaf, (r) => ({
    userId: readString(r),
    userSeq: readU64(r),
    userHeadHash: r.take(HASH_BYTES).slice(),
    deviceSetHash: r.take(HASH_BYTES).slice(),
  }));
}

// ---- signed messages -----------------------------------------------------------------------------

const LABEL_INVITE = utf8('agora-kt-invite-v1\n');
const LABEL_ENROL = utf8('agora-kt-enrol-v1\n');
const LABEL_ORGKEY = utf8('agora-kt-orgkey-v1\n');
const LABEL_ORGKEY_V2 = utf8('agora-kt-orgkey-v2\n');
const LABEL_MEMBERSHIP = utf8('agora-kt-membership-v1\n');
const LABEL_DEVICE_APPROVAL = utf8('agora-kt-device-approval-v1\n');
const LABEL_ROLE_CHANGE = utf8('agora-kt-role-change-v1\n');

export type InviteApproval =
  | { invitePub: Uint8Array; kind: 'user'; name: string; role: KtRole }
  | { invitePub: Uint8Array; kind: 'device'; userId: string };

/** What an approving device signs when it creates an invite. It covers exactly what the log can
 * show again (the invite key; for a new person the name and role of their USER_CREATED entry, for
 * a further device the person), so any verifier can re-check an approval from the log alone. */
export function inviteApprovalMessage(a: InviteApproval): Uint8Array {
  checkBytes(a.invitePub, KEY_BYTES, 'invitePub');
  if (a.kind === 'user') {
    checkString(a.name, 'name', false);
    return concatBytes(LABEL_INVITE, a.invitePub, u8(1), lp16(utf8(a.name)), u8(roleByte(a.role)));
  }
  checkString(a.userId, 'userId', false);
  return concatBytes(LABEL_INVITE, a.invitePub, u8(2), lp16(utf8(a.userId)));
}

/** What a person's own device signs to approve another device of theirs: the device and the keys
 * its DEVICE_ADDED entry logged, so an approval covers exactly one enrolment. */
export function deviceApprovalMessage(d: { userId: string; deviceId: string; signPub: Uint8Array; encPub: Uint8Array }): Uint8Array {
  checkString(d.userId, 'userId', false);
  checkString(d.deviceId, 'deviceId', false);
  checkBytes(d.signPub, KEY_BYTES, 'signPub');
  checkBytes(d.encPub, KEY_BYTES, 'encPub');
  return concatBytes(LABEL_DEVICE_APPROVAL, lp16(utf8(d.userId)), lp16(utf8(d.deviceId)), d.signPub, d.encPub);
}

/** What an administrator's device signs to change a person's role: the person, the new role and
 * the device's own nonce (which binds the signature to one change, see RoleChangedEntry). */
export function roleChangeMessage(c: { userId: string; role: KtRole; nonce: Uint8Array }): Uint8Array {
  checkString(c.userId, 'userId', false);
  checkBytes(c.nonce, ROLE_NONCE_BYTES, 'nonce');
  return concatBytes(LABEL_ROLE_CHANGE, lp16(utf8(c.userId)), u8(roleByte(c.role)), c.nonce);
}

/** What both the invite key and the new device sign at registration. */
export function deviceEnrolmentMessage(e: { userId: string; deviceId: string; signPub: Uint8Array; encPub: Uint8Array }): Uint8Array {
  checkString(e.userId, 'userId', false);
  checkString(e.deviceId, 'deviceId', false);
  checkBytes(e.signPub, KEY_BYTES, 'signPub');
  checkBytes(e.encPub, KEY_BYTES, 'encPub');
  return concatBytes(LABEL_ENROL, lp16(utf8(e.userId)), lp16(utf8(e.deviceId)), e.signPub, e.encPub);
}

/** What a generation's creator signs; with a key commitment (version-2 entries) under its own label,
 * so a version-1 signature can never be passed off as covering a commitment. */
export function orgKeyGenerationMessage(generation: number, deviceSetHash: Uint8Array, keyCommitment?: Uint8Array): Uint8Array {
  checkBytes(deviceSetHash, HASH_BYTES, 'deviceSetHash');
  if (keyCommitment === undefined) return concatBytes(LABEL_ORGKEY, u32(generation), deviceSetHash);
  checkBytes(keyCommitment, HASH_BYTES, 'keyCommitment');
  return concatBytes(LABEL_ORGKEY_V2, u32(generation), deviceSetHash, keyCommitment);
}

/** What a committer signs for a membership entry: `digest` is the version-2 commitment (the
 * version-1 entries of older logs signed memberSetHash(members) in the same place). */
export function membershipMessage(groupId: string, epoch: number, digest: Uint8Array): Uint8Array {
  checkString(groupId, 'groupId', false);
  checkBytes(digest, HASH_BYTES, 'commitment');
  return concatBytes(LABEL_MEMBERSHIP, lp16(utf8(groupId)), u64(epoch), digest);
}

// ---- membership commitments ----------------------------------------------------------------------

const LABEL_COMMITMENT = utf8('agora-kt-membership-commitment-v1\n');
export const SALT_BYTES = 32;
export const AUDITOR_ID_BYTES = 8;
/** Sealed copies per entry: a policy names a handful of auditors, not an audience. */
export const MAX_SEALED_AUDITORS = 8;

/** SHA-256("agora-kt-membership-commitment-v1\n" ‖ salt ‖ memberSetHash(members)). The salt is
 * exported from the group's new MLS epoch, so only members (and whoever they seal it to) can open
 * the commitment, and it cannot be brute-forced from the public list of devices. */
export function membershipCommitment(salt: Uint8Array, members: readonly string[]): Uint8Array {
  checkBytes(salt, SALT_BYTES, 'salt');
  return crypto().sha256(concatBytes(LABEL_COMMITMENT, salt, memberSetHash(members)));
}

/** The 8-byte id under which an entry files an auditor's sealed copy: SHA-256 of its X25519 key. */
export function auditorKeyId(encPub: Uint8Array): Uint8Array {
  checkBytes(encPub, KEY_BYTES, 'encPub');
  return crypto().sha256(encPub).slice(0, AUDITOR_ID_BYTES);
}

/** Room for this many members (a power of two, at least 16) in a sealed list, in bytes of a
 * 24-character device id each: the sealed box's length then tells a reader of the log only the
 * group's size class, not its size. */
export function sealedMembersPadding(count: number): number {
  let slots = 16;
  while (slots < count) slots *= 2;
  return slots * SEALED_SLOT_BYTES;
}
const SEALED_SLOT_BYTES = 26;

/** What is sealed to an auditor: salt(32) ‖ u32 count ‖ count × lp16(device id), ids sorted, then
 * zero bytes up to sealedMembersPadding(count) bytes of ids. */
export function encodeSealedMembers(v: { salt: Uint8Array; members: readonly string[] }): Uint8Array {
  checkBytes(v.salt, SALT_BYTES, 'salt');
  const sorted = sortedIds(v.members);
  const ids = sorted.map((id) => lp16(utf8(id)));
  const used = ids.reduce((n, b) => n + b.length, 0);
  return concatBytes(v.salt, u32(sorted.length), ...ids, new Uint8Array(Math.max(0, sealedMembersPadding(sorted.length) - used)));
}

export function decodeSealedMembers(bytes: Uint8Array): { salt: Uint8Array; members: string[] } {
  // strictly() re-encodes: padding of another length or with non-zero bytes is refused there.
  return strictly(bytes, encodeSealedMembers, (r) => {
    const salt = r.take(SALT_BYTES).slice();
    const count = r.u32();
    if (count > r.remaining / 2) throw new EntryError('member count beyond the data');
    const members: string[] = [];
    for (let i = 0; i < count; i++) members.push(readString(r));
    r.rest();
    return { salt, members };
  });
}

// ---- invite keys ---------------------------------------------------------------------------------

const INVITE_SALT = utf8('agora-invite-v1');

/** The invite key's Ed25519 seed: HKDF-SHA256(ikm = normalised code, salt = "agora-invite-v1"),
 * 32 bytes. Whoever holds the code can sign as the invite; the relay only ever sees the public key. */
export function inviteSeed(code: string): Uint8Array {
  const c = crypto();
  return c.hkdfExpand(c.hkdfExtract(INVITE_SALT, utf8(normaliseInvite(code))), new Uint8Array(0), 32);
}

export function invitePublicKey(code: string): Uint8Array {
  return crypto().ed25519PublicKey(inviteSeed(code));
}

export function inviteKeyPair(code: string): { seed: Uint8Array; publicKey: Uint8Array } {
  const seed = inviteSeed(code);
  return { seed, publicKey: crypto().ed25519PublicKey(seed) };
}

// ---- encoding ------------------------------------------------------------------------------------

function roleByte(role: KtRole): number {
  const i = ROLES.indexOf(role);
  if (i < 0) throw new EntryError(`unknown role ${String(role)}`);
  return i;
}

function checkString(s: string, field: string, mayBeEmpty: boolean): void {
  if (typeof s !== 'string') throw new EntryError(`${field} must be a string`);
  if (!mayBeEmpty && s === '') throw new EntryError(`${field} must not be empty`);
  if (utf8(s).length > 0xffff) throw new EntryError(`${field} is too long`);
}

function checkBytes(b: Uint8Array, n: number, field: string): void {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new EntryError(`${field} must be ${n} bytes`);
}

function checkSeq(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new EntryError('userSeq starts at 1');
}

function checkUint(n: number, field: string, max: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new EntryError(`${field} out of range`);
}

function userHeader(e: UserScoped): Uint8Array {
  checkString(e.userId, 'userId', false);
  checkSeq(e.userSeq);
  checkBytes(e.prevHash, HASH_BYTES, 'prevHash');
  if (e.userSeq === 1 && !bytesEqual(e.prevHash, ZERO_HASH)) throw new EntryError('the first entry of a user has a zero prevHash');
  return concatBytes(lp16(utf8(e.userId)), u64(e.userSeq), e.prevHash);
}

/** The canonical bytes of an entry. Throws EntryError for a value no decoder would accept. */
export function encodeEntry(e: Entry): Uint8Array {
  if (!Object.hasOwn(ENTRY_TYPE, e.type)) throw new EntryError('unknown entry type');
  checkUint(e.time, 'time', Number.MAX_SAFE_INTEGER);
  const version = e.type === 'group-membership' && !isLegacyMembership(e) ? MEMBERSHIP_ENTRY_VERSION
    : e.type === 'orgkey-generation' && e.keyCommitment !== undefined ? ORGKEY_ENTRY_VERSION : ENTRY_VERSION;
  const head = concatBytes(u8(version), u8(ENTRY_TYPE[e.type]), u64(e.time));
  switch (e.type) {
    case 'user-created':
      checkString(e.name, 'name', false);
      checkString(e.approvedByDevice, 'approvedByDevice', true);
      return concatBytes(head, userHeader(e), lp16(utf8(e.name)), u8(roleByte(e.role)), lp16(utf8(e.approvedByDevice)));
    case 'device-added': {
      checkString(e.deviceId, 'deviceId', false);
      for (const [b, n, f] of [
        [e.signPub, KEY_BYTES, 'signPub'], [e.encPub, KEY_BYTES, 'encPub'], [e.invitePub, KEY_BYTES, 'invitePub'],
        [e.approval, SIG_BYTES, 'approval'], [e.inviteSig, SIG_BYTES, 'inviteSig'], [e.deviceSig, SIG_BYTES, 'deviceSig'],
      ] as const) checkBytes(b, n, f);
      const via = VIAS.indexOf(e.via);
      if (via < 0) throw new EntryError(`unknown enrolment ${String(e.via)}`);
      checkString(e.approverDeviceId, 'approverDeviceId', true);
      if (e.via === 'bootstrap') {
        if (e.approverDeviceId !== '' || !bytesEqual(e.approval, ZERO_SIG)) throw new EntryError('a bootstrap enrolment has no approver');
      } else if (e.approverDeviceId === '') {
        throw new EntryError('an invited enrolment names its approver');
      }
      return concatBytes(
        head, userHeader(e), lp16(utf8(e.deviceId)), e.signPub, e.encPub, u8(via), e.invitePub, lp16(utf8(e.approverDeviceId)),
        e.approval, e.inviteSig, e.deviceSig,
      );
    }
    case 'device-revoked':
      checkString(e.deviceId, 'deviceId', false);
      checkString(e.byUserId, 'byUserId', false);
      return concatBytes(head, userHeader(e), lp16(utf8(e.deviceId)), lp16(utf8(e.byUserId)));
    case 'user-deactivated':
      checkString(e.byUserId, 'byUserId', false);
      return concatBytes(head, userHeader(e), lp16(utf8(e.byUserId)));
    case 'device-approved':
      checkString(e.deviceId, 'deviceId', false);
      checkString(e.approverDeviceId, 'approverDeviceId', false);
      checkBytes(e.signature, SIG_BYTES, 'signature');
      return concatBytes(head, userHeader(e), lp16(utf8(e.deviceId)), lp16(utf8(e.approverDeviceId)), e.signature);
    case 'role-changed':
      checkBytes(e.nonce, ROLE_NONCE_BYTES, 'nonce');
      checkString(e.approverDeviceId, 'approverDeviceId', false);
      checkBytes(e.signature, SIG_BYTES, 'signature');
      return concatBytes(head, userHeader(e), u8(roleByte(e.role)), e.nonce, lp16(utf8(e.approverDeviceId)), e.signature);
    case 'orgkey-generation':
      checkUint(e.generation, 'generation', 0xffff_ffff);
      checkString(e.creatorDeviceId, 'creatorDeviceId', false);
      checkBytes(e.deviceSetHash, HASH_BYTES, 'deviceSetHash');
      checkBytes(e.signature, SIG_BYTES, 'signature');
      if (e.keyCommitment !== undefined) {
        checkBytes(e.keyCommitment, HASH_BYTES, 'keyCommitment');
        return concatBytes(head, u32(e.generation), lp16(utf8(e.creatorDeviceId)), e.deviceSetHash, e.keyCommitment, e.signature);
      }
      return concatBytes(head, u32(e.generation), lp16(utf8(e.creatorDeviceId)), e.deviceSetHash, e.signature);
    case 'group-membership': {
      checkString(e.groupId, 'groupId', false);
      checkUint(e.epoch, 'epoch', Number.MAX_SAFE_INTEGER);
      checkString(e.committerDeviceId, 'committerDeviceId', false);
      checkBytes(e.signature, SIG_BYTES, 'signature');
      if (!isLegacyMembership(e)) {
        checkBytes(e.commitment, HASH_BYTES, 'commitment');
        if (!Array.isArray(e.sealedForAuditors) || e.sealedForAuditors.length > MAX_SEALED_AUDITORS) {
          throw new EntryError(`at most ${MAX_SEALED_AUDITORS} sealed member lists`);
        }
        const sealed = e.sealedForAuditors.map((s, i) => {
          checkBytes(s.auditor, AUDITOR_ID_BYTES, 'auditor');
          if (!(s.sealed instanceof Uint8Array) || s.sealed.length === 0 || s.sealed.length > 0xffff_ffff) throw new EntryError('sealed must be 1 to 2^32-1 bytes');
          if (i > 0 && compareBytes(e.sealedForAuditors[i - 1].auditor, s.auditor) >= 0) throw new EntryError('sealed lists must be sorted by auditor, once each');
          return concatBytes(s.auditor, u32(s.sealed.length), s.sealed);
        });
        return concatBytes(
          head, lp16(utf8(e.groupId)), u64(e.epoch), e.commitment, u8(sealed.length), ...sealed, lp16(utf8(e.committerDeviceId)), e.signature,
        );
      }
      if (e.members.length === 0 || e.members.length > 0xffff) throw new EntryError('a group has 1 to 65,535 member devices');
      const sorted = sortedIds(e.members);
      if (sorted.some((id, i) => id !== e.members[i])) throw new EntryError('members must be sorted');
      for (const id of sorted) checkString(id, 'members', false);
      return concatBytes(
        head, lp16(utf8(e.groupId)), u64(e.epoch), u16(sorted.length), ...sorted.map((id) => lp16(utf8(id))),
        lp16(utf8(e.committerDeviceId)), e.signature,
      );
    }
    case 'snapshot':
      checkUint(e.userCount, 'userCount', 0xffff_ffff);
      checkBytes(e.snapshotRoot, HASH_BYTES, 'snapshotRoot');
      return concatBytes(head, u32(e.userCount), e.snapshotRoot);
    case 'web-build': {
      if (!Array.isArray(e.files) || e.files.length === 0 || e.files.length > MAX_WEB_BUILD_FILES) {
        throw new EntryError(`a web build has 1 to ${MAX_WEB_BUILD_FILES} files`);
      }
      const files = e.files.map((f, i) => {
        if (!isWebPath(f.path)) throw new EntryError('files: not a valid web path');
        checkBytes(f.sha256, HASH_BYTES, 'sha256');
        if (i > 0 && compareIds(e.files[i - 1].path, f.path) >= 0) throw new EntryError('files must be sorted by path, each once');
        return concatBytes(lp16(utf8(f.path)), f.sha256);
      });
      return concatBytes(head, u16(files.length), ...files);
    }
  }
  throw new EntryError('unknown entry type');
}

// ---- decoding ------------------------------------------------------------------------------------

// ignoreBOM keeps a leading U+FEFF in the string, so decoding is exactly the inverse of utf8().
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function readString(r: Reader): string {
  try {
    return STRICT_UTF8.decode(r.lp16());
  } catch (e) {
    if (e instanceof FrameError) throw e;
    throw new FrameError('invalid UTF-8');
  }
}

/** Reads with `read`, then requires that nothing is left over and that encoding the result gives
 * the input back byte for byte: one value, one encoding. */
function strictly<T>(bytes: Uint8Array, encode: (value: T) => Uint8Array, read: (r: Reader) => T): T {
  if (!(bytes instanceof Uint8Array)) throw new EntryError('entry bytes expected');
  let value: T;
  const r = new Reader(bytes);
  try {
    value = read(r);
  } catch (e) {
    if (e instanceof FrameError || e instanceof EntryError) throw new EntryError(`malformed: ${e.message}`);
    throw e;
  }
  if (r.remaining !== 0) throw new EntryError('malformed: trailing bytes');
  let again: Uint8Array;
  try {
    again = encode(value);
  } catch (e) {
    if (e instanceof EntryError || e instanceof RangeError) throw new EntryError(`malformed: ${e.message}`);
    throw e;
  }
  if (!bytesEqual(again, bytes)) throw new EntryError('malformed: not the canonical encoding');
  return value;
}

function readUserScoped(r: Reader): UserScoped {
  return { userId: readString(r), userSeq: readU64(r), prevHash: r.take(HASH_BYTES).slice() };
}

function readEntry(r: Reader): Entry {
  const version = r.u8();
  const typeByte = r.u8();
  if (version === MEMBERSHIP_ENTRY_VERSION && typeByte === ENTRY_TYPE['group-membership']) return readMembershipV2(r);
  if (version === ORGKEY_ENTRY_VERSION && typeByte === ENTRY_TYPE['orgkey-generation']) return readOrgKeyV2(r);
  if (version !== ENTRY_VERSION) throw new EntryError(`unknown entry version ${version}`);
  const time = readU64(r);
  switch (typeByte) {
    case ENTRY_TYPE['user-created']: {
      const scope = readUserScoped(r);
      const name = readString(r);
      const role = ROLES[r.u8()];
      if (!role) throw new EntryError('unknown role');
      return { type: 'user-created', time, ...scope, name, role, approvedByDevice: readString(r) };
    }
    case ENTRY_TYPE['device-added']: {
      const scope = readUserScoped(r);
      const deviceId = readString(r);
      const signPub = r.take(KEY_BYTES).slice();
      const encPub = r.take(KEY_BYTES).slice();
      const via = VIAS[r.u8()];
      if (!via) throw new EntryError('unknown enrolment');
      const invitePub = r.take(KEY_BYTES).slice();
      const approverDeviceId = readString(r);
      const approval = r.take(SIG_BYTES).slice();
      const inviteSig = r.take(SIG_BYTES).slice();
      const deviceSig = r.take(SIG_BYTES).slice();
      return { type: 'device-added', time, ...scope, deviceId, signPub, encPub, via, invitePub, approverDeviceId, approval, inviteSig, deviceSig };
    }
    case ENTRY_TYPE['device-revoked']: {
      const scope = readUserScoped(r);
      return { type: 'device-revoked', time, ...scope, deviceId: readString(r), byUserId: readString(r) };
    }
    case ENTRY_TYPE['user-deactivated']:
      return { type: 'user-deactivated', time, ...readUserScoped(r), byUserId: readString(r) };
    case ENTRY_TYPE['device-approved']: {
      const scope = readUserScoped(r);
      return { type: 'device-approved', time, ...scope, deviceId: readString(r), approverDeviceId: readString(r), signature: r.take(SIG_BYTES).slice() };
    }
    case ENTRY_TYPE['role-changed']: {
      const scope = readUserScoped(r);
      const role = ROLES[r.u8()];
      if (!role) throw new EntryError('unknown role');
      const nonce = r.take(ROLE_NONCE_BYTES).slice();
      return { type: 'role-changed', time, ...scope, role, nonce, approverDeviceId: readString(r), signature: r.take(SIG_BYTES).slice() };
    }
    case ENTRY_TYPE['orgkey-generation']:
      return {
        type: 'orgkey-generation', time, generation: r.u32(), creatorDeviceId: readString(r),
        deviceSetHash: r.take(HASH_BYTES).slice(), signature: r.take(SIG_BYTES).slice(),
      };
    case ENTRY_TYPE['group-membership']: {
      const groupId = readString(r);
      const epoch = readU64(r);
      const count = r.u16();
      const members: string[] = [];
      for (let i = 0; i < count; i++) members.push(readString(r));
      return {
        type: 'group-membership', time, groupId, epoch, members, committerDeviceId: readString(r),
        signature: r.take(SIG_BYTES).slice(),
      };
    }
    case ENTRY_TYPE.snapshot:
      return { type: 'snapshot', time, userCount: r.u32(), snapshotRoot: r.take(HASH_BYTES).slice() };
    case ENTRY_TYPE['web-build']: {
      const count = r.u16();
      const files: WebBuildFile[] = [];
      for (let i = 0; i < count; i++) files.push({ path: readString(r), sha256: r.take(HASH_BYTES).slice() });
      return { type: 'web-build', time, files };
    }
    default:
      throw new EntryError(`unknown entry type ${typeByte}`);
  }
}

function readOrgKeyV2(r: Reader): OrgKeyGenerationEntry {
  const time = readU64(r);
  return {
    type: 'orgkey-generation', time, generation: r.u32(), creatorDeviceId: readString(r), deviceSetHash: r.take(HASH_BYTES).slice(),
    keyCommitment: r.take(HASH_BYTES).slice(), signature: r.take(SIG_BYTES).slice(),
  };
}

function readMembershipV2(r: Reader): GroupMembershipEntry {
  const time = readU64(r);
  const groupId = readString(r);
  const epoch = readU64(r);
  const commitment = r.take(HASH_BYTES).slice();
  const count = r.u8();
  const sealedForAuditors: SealedForAuditor[] = [];
  for (let i = 0; i < count; i++) {
    const auditor = r.take(AUDITOR_ID_BYTES).slice();
    sealedForAuditors.push({ auditor, sealed: r.take(r.u32()).slice() });
  }
  return { type: 'group-membership', time, groupId, epoch, commitment, sealedForAuditors, committerDeviceId: readString(r), signature: r.take(SIG_BYTES).slice() };
}

/** Byte-wise order, the order of an entry's sealed lists by auditor id. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Strict decoding: unknown version or type, truncation, trailing bytes, invalid UTF-8, unsorted
 * member lists and any other non-canonical encoding throw EntryError. */
export function decodeEntry(bytes: Uint8Array): Entry {
  return strictly(bytes, encodeEntry, readEntry);
}
