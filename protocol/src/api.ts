/** Wire schemas of the relay's HTTP and WebSocket API, defined once and used by both sides: the
 * relay parses every request with them, the SDK parses every response with them. Binary values
 * travel as unpadded base64url strings. */
import * as z from 'zod';
import { LIMITS } from './limits.js';
import { Name } from './names.js';
import { PolicySchema } from './kt/policy.js';

const B64U = /^[A-Za-z0-9_-]*$/;
export const b64u = (maxChars: number) => z.string().max(maxChars).regex(B64U, 'must be base64url');
/** A base64url string that decodes to exactly `bytes` bytes. */
export const b64uBytes = (bytes: number) =>
  z.string().length(Math.ceil((bytes * 4) / 3)).regex(B64U, 'must be base64url');

export const Key32 = b64uBytes(32);
export const Signature64 = b64uBytes(64);

/** Ids are a type prefix and 16 random bytes in base64url (22 chars). */
const idOf = (prefix: string) => z.string().regex(new RegExp(`^${prefix}_[A-Za-z0-9_-]{22}$`), `must be a ${prefix}_ id`);
export const UserId = idOf('u');
export const DeviceId = idOf('d');
export const GroupId = idOf('g');
export const DepartmentId = idOf('dep');
export const OrgId = idOf('o');

/** Every name the relay accepts goes through the one validator in names.ts. */
export const DisplayName = Name;
export const InviteCode = z.string().trim().min(16).max(64).regex(/^[A-Za-z0-9-]+$/, 'must be an invite code');
export const Role = z.enum(['admin', 'announcer', 'member']);
export type Role = z.infer<typeof Role>;
export const GroupKind = z.enum(['secret', 'public']);
export type GroupKind = z.infer<typeof GroupKind>;
export const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const Epoch = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

// ---- directory objects (responses) ----
export const User = z.object({
  id: UserId,
  name: z.string(),
  role: Role,
  status: z.enum(['active', 'deactivated']),
  departments: z.array(DepartmentId),
  createdAt: z.number(),
});
export type User = z.infer<typeof User>;

export const Device = z.object({
  id: DeviceId,
  userId: UserId,
  signPub: Key32,
  encPub: Key32,
  status: z.enum(['active', 'revoked']),
  createdAt: z.number(),
  /** How the device was enrolled: a new person's invite, a further-device invite, or bootstrap. */
  enrolledBy: z.enum(['user-invite', 'device-invite', 'bootstrap']),
});
export type Device = z.infer<typeof Device>;

export const Department = z.object({
  id: DepartmentId,
  name: z.string(),
  publicGroupId: GroupId,
  secretGroupId: GroupId,
  members: z.array(UserId),
});
export type Department = z.infer<typeof Department>;

export const Group = z.object({
  id: GroupId,
  /** Null for a secret group: its name is encrypted to its members in a 'meta' record of its log. */
  name: z.string().nullable(),
  kind: GroupKind,
  departmentId: DepartmentId.nullable(),
  /** Secret groups: the current MLS epoch, or null while a department's secret group is reserved
   * and not yet created by its first member. Public groups: always null. */
  epoch: Epoch.nullable(),
  createdBy: UserId.nullable(),
  createdAt: z.number(),
  head: Seq,
});
export type Group = z.infer<typeof Group>;

export const GroupView = Group.extend({
  /** Users who can read: members (secret), joined users (public). */
  members: z.array(UserId),
  /** Secret groups only: the member devices the relay routes to, as declared by accepted commits. */
  memberDevices: z.array(DeviceId),
  isMember: z.boolean(),
  /** The log sequence number from which the caller's device may read (its join point). */
  readableFrom: Seq,
});
export type GroupView = z.infer<typeof GroupView>;

// ---- registration and sign-in ----
export const RegisterRequest = z.object({
  /** inviteHash(code): names the invite without giving the relay the code. */
  codeHash: b64uBytes(32),
  /** A new person's id, chosen by the registering device (newId('u')); for a further device, the
   * person the invite names (GET /v1/invites/:codeHash tells). Chosen up front because the device
   * signs it. */
  userId: UserId,
  /** Chosen by the registering device (newId('d')). */
  deviceId: DeviceId,
  name: DisplayName.optional(),
  signPub: Key32,
  encPub: Key32,
  /** Signature by the invite key (derived from the code) over deviceEnrolmentMessage(userId, deviceId, signPub, encPub). */
  inviteSig: Signature64,
  /** The same message signed by signPub: proof of possession. */
  deviceSig: Signature64,
});
export type RegisterRequest = z.infer<typeof RegisterRequest>;
export const RegisterResponse = z.object({
  orgId: OrgId,
  orgName: z.string(),
  userId: UserId,
  deviceId: DeviceId,
  name: z.string(),
  role: Role,
  /** True for the organisation's first admin: its device creates organisation-key generation 1. */
  bootstrap: z.boolean(),
});
export type RegisterResponse = z.infer<typeof RegisterResponse>;

export const ChallengeRequest = z.object({ deviceId: DeviceId });
export const ChallengeResponse = z.object({ challenge: b64uBytes(32), expiresAt: z.number() });
export const TokenRequest = z.object({ deviceId: DeviceId, challenge: b64uBytes(32), signature: Signature64 });
export const TokenResponse = z.object({ token: z.string(), expiresAt: z.number() });

export const InfoResponse = z.object({ orgId: OrgId, orgName: z.string(), version: z.string() });

export const MeResponse = z.object({ user: User, device: Device });
export const DirectoryResponse = z.object({ users: z.array(User), devices: z.array(Device) });
export type DirectoryResponse = z.infer<typeof DirectoryResponse>;

// ---- invites, departments, administration ----
/** The creating device makes the code and keeps it; the relay gets its hash, the invite's public
 * key (inviteKeyPair(code)) and the device's approval, inviteApprovalMessage() signed by it. */
const InviteKeys = {
  codeHash: b64uBytes(32),
  invitePub: Key32,
  approval: Signature64,
};
export const CreateInviteRequest = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('user'),
    name: DisplayName,
    departmentId: DepartmentId.optional(),
    role: Role.default('member'),
    ttlMs: z.number().int().min(60_000).max(90 * 24 * 3600_000).optional(),
    ...InviteKeys,
  }),
  z.object({
    /** A further device for an existing person: an admin for anyone, a person for themselves. */
    kind: z.literal('device'),
    userId: UserId.optional(),
    ttlMs: z.number().int().min(60_000).max(90 * 24 * 3600_000).optional(),
    ...InviteKeys,
  }),
]);
export type CreateInviteRequest = z.infer<typeof CreateInviteRequest>;
export const CreateInviteResponse = z.object({ expiresAt: z.number(), kind: z.enum(['user', 'device']) });
/** GET /v1/invites/:codeHash (no account needed: the holder of the code asks before registering). */
export const InviteInfoResponse = z.object({
  kind: z.enum(['user', 'device']),
  bootstrap: z.boolean(),
  /** Device invites: the person who gets the device. */
  userId: UserId.nullable(),
  name: z.string().nullable(),
  role: Role.nullable(),
  departmentId: DepartmentId.nullable(),
  expiresAt: z.number(),
  invitePub: Key32,
  /** '' for the bootstrap invite, which no device approved. */
  approverDeviceId: z.union([DeviceId, z.literal('')]),
  approval: Signature64,
});
export type InviteInfoResponse = z.infer<typeof InviteInfoResponse>;

export const CreateDepartmentRequest = z.object({ name: DisplayName });
/** POST /v1/departments/:id/rename and /v1/groups/:id/rename (public groups). */
export const RenameRequest = z.object({ name: DisplayName });
export const DeletedResponse = z.object({ deleted: z.literal(true) });
export const AddDepartmentMemberRequest = z.object({ userId: UserId });
export const DepartmentsResponse = z.object({ departments: z.array(Department) });
export const DeactivateResponse = z.object({ user: User, revokedDevices: z.array(DeviceId) });
/** An administrator's device changes a person's role: it signs roleChangeMessage(person, role,
 * nonce) (kt/entries.ts), which the relay checks and logs as a ROLE_CHANGED entry. */
export const ChangeRoleRequest = z.object({ role: Role, nonce: b64uBytes(16), signature: Signature64 });
export type ChangeRoleRequest = z.infer<typeof ChangeRoleRequest>;
export const ChangeRoleResponse = z.object({ user: User });

// ---- groups ----
/** A secret group's member devices after a change, as the key-transparency log keeps them: a
 * commitment (membershipCommitment of the new epoch's MLS salt and the member devices) signed by
 * the device that made the change over membershipMessage(groupId, epoch after the change,
 * commitment), and the list with its salt sealed to each auditor of the committer's policy. The
 * relay cannot open either; members check the commitment against their MLS tree. */
export const MembershipProof = z.object({
  commitment: b64uBytes(32),
  sealedForAuditors: z
    // A sealed box (48 bytes of overhead) of salt, count and LIMITS.groupDevices ids padded to the
    // next power of two (kt/entries.ts sealedMembersPadding: 16,384 slots of 26 bytes).
    .array(z.object({ auditor: b64uBytes(8), sealed: b64u(Math.ceil(((48 + 32 + 4 + 16_384 * 26) * 4) / 3)).min(1) }))
    .max(8),
  signature: Signature64,
});
export type MembershipProof = z.infer<typeof MembershipProof>;

export const CreateGroupRequest = z.object({
  /** Required for secret groups, whose epoch-0 membership the creator signs (and so must name). */
  id: GroupId.optional(),
  /** Public groups only: a secret group's name never reaches the relay. */
  name: DisplayName.optional(),
  kind: GroupKind,
  departmentId: DepartmentId.optional(),
  /** Secret groups: the creating device alone, epoch 0. */
  membership: MembershipProof.optional(),
});
export const GroupsResponse = z.object({ groups: z.array(GroupView) });
export const PublicMembersRequest = z.object({ userIds: z.array(UserId).min(1).max(LIMITS.fanOut) });

const MlsMessage = b64u(LIMITS.mlsMessageChars).min(1);
export const CommitRequest = z.object({
  /** The epoch the commit was built on; the relay accepts it only if that is still the current one. */
  epoch: Epoch,
  commit: MlsMessage,
  /** One Welcome for all devices the commit adds. */
  welcome: MlsMessage.optional(),
  /** Devices the commit adds and removes, declared so the relay can route; members check the
   * declaration against the commit itself and reject a commit whose declaration lies. */
  added: z.array(DeviceId).max(LIMITS.fanOut),
  removed: z.array(DeviceId).max(LIMITS.fanOut),
  /** The member devices after the commit (epoch + 1), signed by the committing device. */
  membership: MembershipProof,
});
export type CommitRequest = z.infer<typeof CommitRequest>;
export const CommitResponse = z.object({ seq: Seq, epoch: Epoch });

export const InitSecretGroupRequest = z.object({ epoch: z.literal(0), membership: MembershipProof });

export const RecordRequest = z.object({
  /** Secret groups: the MLS epoch whose exporter key encrypted it. Public: the org-key generation. */
  epoch: Epoch,
  ciphertext: b64u(Math.ceil((LIMITS.recordBytes * 4) / 3)).min(1),
  /** Secret groups: the log position the sender has read up to. A record refused as stale_epoch then
   * carries the entries after it (one page), so the sender catches up without reading the log. */
  after: Seq.optional(),
});
export type RecordRequest = z.infer<typeof RecordRequest>;
export const RecordResponse = z.object({ seq: Seq });

export const LogEntry = z.object({
  seq: Seq,
  kind: z.enum(['commit', 'record']),
  epoch: Epoch,
  sender: DeviceId,
  at: z.number(),
  payload: z.string(),
  added: z.array(DeviceId).optional(),
  removed: z.array(DeviceId).optional(),
});
export type LogEntry = z.infer<typeof LogEntry>;
export const LogQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(LIMITS.logPageSize).default(LIMITS.logPageSize),
});
export const LogResponse = z.object({ entries: z.array(LogEntry), head: Seq });
export type LogResponse = z.infer<typeof LogResponse>;

// ---- mailbox: Welcomes and history bundles addressed to one device ----
export const MailboxItem = z.object({
  seq: Seq,
  kind: z.enum(['welcome', 'history']),
  groupId: GroupId.nullable(),
  /** For a Welcome: the log position of the commit that added the device, from which it reads. */
  groupSeq: Seq.nullable(),
  epoch: Epoch.nullable(),
  from: DeviceId,
  at: z.number(),
  payload: z.string(),
});
export type MailboxItem = z.infer<typeof MailboxItem>;
export const MailboxResponse = z.object({ items: z.array(MailboxItem), head: Seq });
export const SeqResponse = z.object({ seq: Seq });
export const HistoryRequest = z.object({
  /** A sealed box to the target device's X25519 key holding past content keys. */
  deviceId: DeviceId,
  payload: b64u(LIMITS.mlsMessageChars).min(1),
});
/** POST /v1/devices/approve: one of the caller's own approved devices vouches for another device of
 * the same person (one an administrator's invite added); logged as a DEVICE_APPROVED entry. */
export const ApproveDeviceRequest = z.object({
  deviceId: DeviceId,
  /** The calling device's signature over deviceApprovalMessage() of that device's logged keys. */
  signature: Signature64,
});
export const ApproveDeviceResponse = z.object({ deviceId: DeviceId, approved: z.literal(true) });
/** POST /v1/devices/:id/revoke takes no body: the path names the device, the token the revoker. */
export const RevokeDeviceResponse = z.object({ deviceId: DeviceId, userId: UserId, revoked: z.literal(true) });

// ---- key packages ----
export const KeyPackage = b64u(LIMITS.keyPackageChars).min(1);
export const UploadKeyPackagesRequest = z.object({
  keyPackages: z.array(KeyPackage).max(LIMITS.keyPackagesPerUpload),
  lastResort: KeyPackage.optional(),
});
export const StockResponse = z.object({ stock: z.number().int(), hasLastResort: z.boolean(), low: z.boolean() });
/** A claim names the secret group the devices are for: the relay hands out packages only to one of
 * that group's member devices, and within per-claimer and per-target limits (docs/protocol.md). */
export const ClaimKeyPackagesRequest = z.object({ groupId: GroupId, deviceIds: z.array(DeviceId).min(1).max(LIMITS.fanOut) });
export const ClaimKeyPackagesResponse = z.object({
  keyPackages: z.array(z.object({ deviceId: DeviceId, keyPackage: z.string(), lastResort: z.boolean() })),
  missing: z.array(DeviceId),
});
export type ClaimKeyPackagesResponse = z.infer<typeof ClaimKeyPackagesResponse>;

// ---- organisation-key generations (public groups) ----
export const Envelope = z.object({
  generation: z.number().int().min(1),
  deviceId: DeviceId,
  /** crypto_box_seal to the device's encPub of a payload signed by the sealing device. */
  sealed: b64u(1024).min(1),
});
export type Envelope = z.infer<typeof Envelope>;
export const CreateGenerationRequest = z.object({
  generation: z.number().int().min(1),
  envelopes: z.array(Envelope.omit({ generation: true })).max(LIMITS.fanOut),
  /** idListHash() of the envelopes' device ids. */
  deviceSetHash: b64uBytes(32),
  /** orgKeyCommitment(orgId, generation, key): logged, and checked by every recipient of the key. */
  keyCommitment: b64uBytes(32),
  /** The creating device's signature over orgKeyGenerationMessage(generation, deviceSetHash, keyCommitment). */
  signature: Signature64,
});
export const CreateGenerationResponse = z.object({ generation: z.number().int().min(1) });
export const UploadEnvelopesResponse = z.object({ accepted: z.number().int().min(0) });
export const UploadEnvelopesRequest = z.object({ envelopes: z.array(Envelope).min(1).max(LIMITS.fanOut) });
export const StoredEnvelope = Envelope.extend({ sealedBy: DeviceId, at: z.number() });
export type StoredEnvelope = z.infer<typeof StoredEnvelope>;
export const OrgKeysResponse = z.object({
  current: z.number().int().min(0),
  /** Only a hint: devices decide on rotation from the key-transparency log. */
  rotationNeeded: z.boolean(),
  envelopes: z.array(StoredEnvelope),
  /** Where each generation's ORGKEY_GENERATION entry sits in the key-transparency log, so a device
   * can prove it (and the key commitment it carries) before it accepts that generation's key. */
  generations: z.array(z.object({ generation: z.number().int().min(1), index: z.number().int().min(0) })).max(LIMITS.fanOut).default([]),
});
export type OrgKeysResponse = z.infer<typeof OrgKeysResponse>;
export const PendingResponse = z.object({
  /** Active devices of active people still missing one or more generations. */
  pending: z.array(z.object({ deviceId: DeviceId, missing: z.array(z.number().int().min(1)) })),
});
export type PendingResponse = z.infer<typeof PendingResponse>;
/** The calling device refused its envelope for `generation` (a sealer the log does not allow, an
 * envelope that does not open, or a key other than the logged one). It names the envelope exactly as
 * it was served, so the relay drops only that one (and then lists the device as pending again, and
 * bars that sealer from the place); the relay stored every field already, so it learns nothing new. */
export const RefuseEnvelopeRequest = z.object({ generation: z.number().int().min(1), sealedBy: DeviceId, sealed: Envelope.shape.sealed });
export type RefuseEnvelopeRequest = z.infer<typeof RefuseEnvelopeRequest>;
export const RefuseEnvelopeResponse = z.object({ dropped: z.boolean() });

// ---- key transparency (read by employees' devices and by the witnesses and auditors the published policy names) ----
const KtIndex = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const Hash32 = b64uBytes(32);
const KtEntry = b64u(LIMITS.mlsMessageChars).min(1);
const KtVkey = z.string().min(1).max(1024);
export const KtCheckpointQuery = z.object({
  size: KtIndex.optional(),
  /** Instead of the current size: the largest size that at least this many witnesses cosigned. */
  cosigners: z.coerce.number().int().min(1).max(100).optional(),
  /** With `quorum`: only these witnesses count (cosignature/v1 vkeys, the parameter repeated per
   * key), and the answer carries only their cosignatures, so nobody else's cosignature moves it. */
  witness: z
    .union([KtVkey, z.array(KtVkey).min(1).max(64)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional(),
  quorum: z.coerce.number().int().min(1).max(64).optional(),
});
export const KtCheckpointResponse = z.object({
  /** C2SP signed note: the checkpoint body, the log's signature and the witnesses' cosignatures of exactly this size. */
  checkpoint: z.string(),
  size: Seq,
  /** Names on the cosignature lines (the relay checked each; clients count keys by their policy). */
  cosigners: z.array(z.string()),
});
export type KtCheckpointResponse = z.infer<typeof KtCheckpointResponse>;
export const KtEntriesQuery = z.object({ start: KtIndex, end: KtIndex });
export const KtEntriesResponse = z.object({ entries: z.array(z.object({ index: Seq, entry: KtEntry })).max(LIMITS.ktPageSize) });
export type KtEntriesResponse = z.infer<typeof KtEntriesResponse>;
export const KtInclusionQuery = z.object({ index: KtIndex, size: KtIndex });
export const KtConsistencyQuery = z.object({ from: KtIndex, to: KtIndex });
/** RFC 6962 audit paths, lowest level first; 64 hashes cover any tree of 2^53 leaves. */
export const KtProofResponse = z.object({ proof: z.array(Hash32).max(64) });
export type KtProofResponse = z.infer<typeof KtProofResponse>;
export const KtUserQuery = z.object({ size: KtIndex.optional() });
export const KtUserResponse = z.object({
  /** The tree size everything below is proven against. */
  size: Seq,
  /** All of the user's entries below `size`, oldest first, each with its inclusion proof at `size`. */
  entries: z.array(z.object({ index: Seq, entry: KtEntry, proof: z.array(Hash32).max(64) })),
  /** The latest SNAPSHOT below `size`, its inclusion proof at `size`, and the user's leaf in it. */
  snapshot: z.object({
    index: Seq,
    entry: KtEntry,
    proof: z.array(Hash32).max(64),
    leaf: b64u(1024).min(1),
    leafIndex: Seq,
    leafProof: z.array(Hash32).max(64),
  }),
});
export type KtUserResponse = z.infer<typeof KtUserResponse>;
/** Several people at one size. */
export const KtUsersRequest = z.object({
  ids: z.array(UserId).min(1).max(LIMITS.ktUsersPerRequest).refine((ids) => new Set(ids).size === ids.length, 'an id is listed twice'),
  size: Seq,
});
export type KtUsersRequest = z.infer<typeof KtUsersRequest>;
/** One answer per asked id, in the order asked; `user` is what GET /v1/kt/users/:id answers without
 * its `size`, or null where that answers 404 (not in the log at that size). */
export const KtUsersResponse = z.object({
  size: Seq,
  users: z.array(z.object({ userId: UserId, user: KtUserResponse.omit({ size: true }).nullable() })).max(LIMITS.ktUsersPerRequest),
});
export type KtUsersResponse = z.infer<typeof KtUsersResponse>;
/** A secret group's membership entry for one epoch, below `size`, with its inclusion proof at `size`. */
export const KtMembershipQuery = z.object({ epoch: KtIndex, size: KtIndex });
export const KtMembershipResponse = z.object({ index: Seq, entry: KtEntry, proof: z.array(Hash32).max(64) });
export type KtMembershipResponse = z.infer<typeof KtMembershipResponse>;
export const KtPolicyResponse = z.object({
  origin: z.string(),
  /** The log's note verifier key, "name+hexkeyid+base64(0x01 ‖ public key)". */
  vkey: z.string(),
  size: Seq,
  /** The organisation's policy file as an administrator published it, or null. A hint for
   * clients; the relay uses it to admit witnesses and auditors and to refuse other cosigners. */
  policy: PolicySchema.nullable().optional(),
});
export type KtPolicyResponse = z.infer<typeof KtPolicyResponse>;
export const KtCosignatureRequest = z.object({
  /** The checkpoint note the witness cosigned (its body must be the relay's own checkpoint of that size). */
  checkpoint: z.string().min(1).max(16_384),
  /** One note signature line, "— name base64", with or without its final newline. */
  cosignature: z.string().min(1).max(1024),
  /** The witness's cosignature/v1 verifier key, "name+hexkeyid+base64(0x04 ‖ public key)". */
  vkey: z.string().min(1).max(1024),
});
export type KtCosignatureRequest = z.infer<typeof KtCosignatureRequest>;
export const KtCosignatureResponse = z.object({ size: Seq, cosigners: z.array(z.string()) });
export const KtPublishPolicyResponse = z.object({ published: z.literal(true) });
/** A witness reads checkpoints and consistency proofs and posts cosignatures; an auditor reads the whole log. */
export const KtReaderRole = z.enum(['witness', 'auditor']);
export type KtReaderRole = z.infer<typeof KtReaderRole>;
export const KtReaderChallengeRequest = z.object({ role: KtReaderRole, key: Key32 });
export const KtReaderChallengeResponse = z.object({ challenge: b64u(512).min(1), expiresAt: z.number() });
export const KtReaderTokenRequest = z.object({ role: KtReaderRole, key: Key32, challenge: b64u(512).min(1), signature: Signature64 });

// ---- WebSocket push ----
export const PushMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('entry'), groupId: GroupId, entry: LogEntry }),
  z.object({ type: z.literal('mailbox') }),
  z.object({ type: z.literal('orgkeys') }),
  z.object({ type: z.literal('directory') }),
  z.object({ type: z.literal('groups') }),
  z.object({ type: z.literal('keypackages-low'), stock: z.number().int() }),
]);
export type PushMessage = z.infer<typeof PushMessage>;
/** The WebSocket subprotocol carrying the token, since browsers cannot set headers on an upgrade. */
export const WS_PROTOCOL = 'agora.v1';
export const wsTokenProtocol = (token: string) => `agora.token.${token}`;

// ---- sync: everything a device checks when it wakes up, in one request ----
/** `<directory change seq>.<mailbox seq>`: the point up to which a device applied the directory
 * and its mailbox. The device sends back the cursor of the last answer it applied (and saved), so
 * an answer lost on the way costs nothing: the same cursor gets the same changes again. */
export const SyncCursor = z.string().regex(/^\d{1,15}\.\d{1,15}$/, 'a cursor is <directory>.<mailbox>');
export type SyncCursor = z.infer<typeof SyncCursor>;
export const SyncQuery = z.object({
  /** Absent or directory part 0: the whole directory. */
  cursor: SyncCursor.optional(),
  /** The checkpoint, asked for as GET /v1/kt/checkpoint asks: by the policy's witness keys and quorum. */
  witness: KtCheckpointQuery.shape.witness,
  quorum: KtCheckpointQuery.shape.quorum,
});
export const SyncResponse = z.object({
  cursor: SyncCursor,
  directory: z.object({
    /** True: `users` and `devices` are everyone (the cursor was 0 or one this relay never gave out);
     * false: only the entries that changed after the cursor. */
    full: z.boolean(),
    users: z.array(User),
    devices: z.array(Device),
  }),
  /** What GET /v1/orgkeys answers. */
  orgKeys: OrgKeysResponse,
  /** What GET /v1/orgkeys/pending answers. */
  pending: PendingResponse.shape.pending,
  /** The device's mailbox after the cursor's mailbox part: one page, `more` when another follows. */
  mailbox: z.object({ items: z.array(MailboxItem), more: z.boolean() }),
  /** What GET /v1/groups answers: every visible group with its head (seq) and epoch. */
  groups: z.array(GroupView),
  /** What GET /v1/kt/checkpoint answers for the same witness selection; null where that answers an
   * error (no checkpoint has the quorum yet): the device then asks it directly and fails closed as
   * it always does. */
  checkpoint: KtCheckpointResponse.nullable(),
  /** What GET /v1/keypackages/stock answers. */
  keyPackages: StockResponse,
});
export type SyncResponse = z.infer<typeof SyncResponse>;
