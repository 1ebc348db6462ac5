/** The device's persisted state, validated with zod every time it is read back, so a profile written
 * by an older release or damaged on disk is refused with a clear message instead of half-working.
 * Everything here is secret (device keys, MLS states, content keys, plaintext history); the state
 * store encrypts it at rest. */
import * as z from 'zod';

export const PROFILE_VERSION = 1;

const B64u = z.string();

/* The persisted format has its own copies of the wire shapes it keeps (roles, the directory), so a
 * change to the relay's API cannot silently change what is on disk: the client stays type-compatible
 * with the wire types structurally, and the snapshot test of state/records.ts fails until the
 * stored format's version is bumped. */
export const Role = z.enum(['admin', 'announcer', 'member']);
export type Role = z.infer<typeof Role>;

export const DirectoryUser = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  status: z.enum(['active', 'deactivated']),
  departments: z.array(z.string()),
  createdAt: z.number(),
});
export type DirectoryUser = z.infer<typeof DirectoryUser>;

export const DirectoryDevice = z.object({
  id: z.string(),
  userId: z.string(),
  signPub: B64u,
  encPub: B64u,
  status: z.enum(['active', 'revoked']),
  createdAt: z.number(),
  enrolledBy: z.enum(['user-invite', 'device-invite', 'bootstrap']),
});
export type DirectoryDevice = z.infer<typeof DirectoryDevice>;

export const Directory = z.object({ users: z.array(DirectoryUser), devices: z.array(DirectoryDevice) });
export type Directory = z.infer<typeof Directory>;

export const StoredMessage = z.object({
  id: z.string(),
  seq: z.number().int(),
  sender: z.string(),
  senderDevice: z.string(),
  sentAt: z.number(),
  text: z.string(),
});
export type StoredMessage = z.infer<typeof StoredMessage>;

export const Rejection = z.object({ seq: z.number().int(), reason: z.string(), sender: z.string() });
export type Rejection = z.infer<typeof Rejection>;

export const GroupLocal = z.object({
  id: z.string(),
  name: z.string(),
  kind: z.enum(['secret', 'public']),
  departmentId: z.string().nullable(),
  /** Secret groups: serialised MLS state once this device is a member. */
  mls: B64u.nullable(),
  /** Secret groups: content keys by epoch (exporter output), kept so late records still open and
   * so this person's other devices can be given history. */
  epochKeys: z.record(z.string(), B64u),
  /** Last log seq processed. */
  cursor: z.number().int(),
  /** First seq this device may read (its join point). */
  readableFrom: z.number().int(),
  messages: z.array(StoredMessage),
  /** Highest counter seen per sender device, to see drops and refuse replays. */
  counters: z.record(z.string(), z.number().int()),
  /** Senders' counter gaps noticed: records the relay dropped or withheld. */
  gaps: z.array(z.object({ senderDevice: z.string(), from: z.number().int(), to: z.number().int() })),
  rejected: z.array(Rejection),
  /** This device was removed from the secret group. */
  removed: z.boolean(),
  /** A commit sent whose answer has not come back: merged if it shows up in the log. */
  pendingCommit: z.object({ epoch: z.number().int(), commit: z.string(), staged: B64u }).nullable().default(null),
  /** Membership entries of the key-transparency log still to be checked against the MLS tree: per
   * relay epoch, the committer and the commitment this device computed from its own tree and salt;
   * `since` is when the log first lacked the entry (null: not looked up yet). */
  membershipChecks: z
    .array(z.object({ epoch: z.number().int(), committer: z.string(), commitment: B64u, since: z.number().nullable() }))
    .default([]),
  /** Secret groups: the relay's epoch (its count of accepted commits) of the current MLS state. It
   * runs ahead of the MLS epoch by the commits every member voided. null: a profile from before the
   * two were told apart, where they are equal (filled in on the next ingest). */
  logEpoch: z.number().int().nullable().default(null),
  /** The relay's epoch in force at `cursor`: differs from logEpoch only while older entries are
   * read again (history from an own device). */
  cursorEpoch: z.number().int().nullable().default(null),
  /** Seq of the last commit this device applied, voided or sent: commits up to it are not processed again. */
  lastCommitSeq: z.number().int().default(0),
  /** User ids of the group's owners (who may add and remove other people); empty = not known yet. */
  owners: z.array(z.string()).default([]),
  /** Secret groups: the description of the latest meta record (its name is `name`), and that
   * record's log seq, so a meta record read again for history cannot bring back an older name. */
  description: z.string().nullable().default(null),
  metaSeq: z.number().int().default(0),
  /** Post-compromise security: when this device last refreshed its own leaf (update commit, join or
   * creation), records sent since, and how many of its person's devices were revoked by then. */
  pcs: z
    .object({ at: z.number(), sent: z.number().int(), revokedOwn: z.number().int() })
    .default({ at: 0, sent: 0, revokedOwn: 0 }),
});
export type GroupLocal = z.infer<typeof GroupLocal>;

export const Alarm = z.object({
  id: z.string(),
  at: z.number(),
  /** fork | rollback | forged_checkpoint | key_substitution | bad_chain | unknown_device | device_added_by_admin | claim_mismatch | unverifiable | bad_gossip | membership_mismatch
   * | hidden_entries | bad_generation | orgkey_substitution | commit_refused */
  kind: z.string(),
  message: z.string(),
  /** Signed notes and other data kept as evidence (no content, no keys). */
  evidence: z.array(z.string()),
  /** The person the alarm is about, where it is about one (a key change, a name the relay got
   * wrong): an app names them and links their safety number without parsing `message`. The name is
   * the log's, or the relay's listing where the log has none. */
  subject: z.object({ userId: z.string(), name: z.string() }).optional(),
});
export type Alarm = z.infer<typeof Alarm>;

export const VerifiedDevice = z.object({
  deviceId: z.string(),
  signPub: B64u,
  encPub: B64u,
  via: z.string(),
  approverDeviceId: z.string(),
  approverUserId: z.string(),
  addedIndex: z.number().int(),
  addedAt: z.number(),
  revokedIndex: z.number().int().nullable(),
  /** See kt/chain.ts ChainDevice.approvedIndex; absent in profiles written before approvals (read
   * as not approved until the person is verified again at the next checkpoint). */
  approvedIndex: z.number().int().nullable().optional(),
});
export type VerifiedDevice = z.infer<typeof VerifiedDevice>;

export const VerifiedUser = z.object({
  /** Checkpoint size this was verified at. */
  size: z.number().int(),
  name: z.string(),
  role: Role,
  status: z.enum(['active', 'deactivated']),
  devices: z.array(VerifiedDevice),
  /** Log position of the person's deactivation (undefined: verified by an older release). */
  deactivatedIndex: z.number().int().nullable().optional(),
  /** The role from each log position on: creation, then every verified role change (undefined:
   * verified by an older release, which is verified again before it is used). */
  roles: z.array(z.object({ index: z.number().int(), role: Role })).optional(),
});
export type VerifiedUser = z.infer<typeof VerifiedUser>;

/** What this device learnt from the key-transparency log about organisation-key generations. */
export const OrgKeyLog = z.object({
  /** Every entry below this log size from `from` on was read and proven complete. */
  scannedTo: z.number().int(),
  /** The latest DEVICE_REVOKED or USER_DEACTIVATED entry seen in the scanned part, if any. */
  lastRevocation: z.object({ index: z.number().int(), time: z.number() }).nullable(),
  /** Verified ORGKEY_GENERATION entries, by generation: position, creator and key commitment (null
   * for version-1 entries, which carry none). */
  generations: z.record(z.string(), z.object({ index: z.number().int(), time: z.number(), creatorDeviceId: z.string(), keyCommitment: B64u.nullable() })),
  /** Generations this device created, with the verified log size when it did. */
  createdHere: z.record(z.string(), z.number().int()).default({}),
});
export type OrgKeyLog = z.infer<typeof OrgKeyLog>;

export const KtLocal = z.object({
  /** The organisation's policy (validated with PolicySchema when used). */
  policy: z.unknown(),
  policySource: z.enum(['file', 'relay']),
  checkpoint: z.object({ note: z.string(), size: z.number().int(), root: B64u }).nullable(),
  users: z.record(z.string(), VerifiedUser),
  /** Own devices this person's devices approved or knew when this one enrolled. */
  knownOwnDevices: z.array(z.string()),
  alarms: z.array(Alarm),
  /** null until the first scan (and in profiles from before it). */
  orgKeyLog: OrgKeyLog.nullable().default(null),
  /** What the relay states but the log does not show yet, with when this device first saw each: a
   * device it lists (by device id) and a person's role (`role:<userId>:<role>`). The grace for a
   * young device or a fresh role change is counted from here, never from the relay's date alone. */
  unloggedSince: z.record(z.string(), z.number()).default({}),
});
export type KtLocal = z.infer<typeof KtLocal>;

export const ProfileState = z.object({
  v: z.literal(PROFILE_VERSION),
  server: z.string(),
  orgId: z.string(),
  orgName: z.string(),
  userId: z.string(),
  deviceId: z.string(),
  name: z.string(),
  role: Role,
  keys: z.object({ signPub: B64u, signSeed: B64u, encPub: B64u, encSecret: B64u }),
  /** Private halves of this device's uploaded MLS KeyPackages, by ref. */
  keyPackages: z.array(z.object({ ref: z.string(), publicPackage: z.string(), privateState: z.string(), lastResort: z.boolean() })),
  directory: Directory,
  groups: z.record(z.string(), GroupLocal),
  /** Organisation-key generations this device holds (generation → key). */
  orgKeys: z.record(z.string(), B64u),
  mailboxCursor: z.number().int(),
  /** The relay's directory change counter up to which `directory` is applied (GET /v1/sync); 0: none
   * yet, the next sync brings the whole directory. */
  directorySeq: z.number().int().min(0).default(0),
  /** Our own per-group counters. */
  sentCounters: z.record(z.string(), z.number().int()),
  /** Own devices that already received our history bundle. */
  historySentTo: z.array(z.string()),
  kt: KtLocal,
  /** Cached bearer token. */
  token: z.object({ value: z.string(), expiresAt: z.number() }).nullable(),
});
export type ProfileState = z.infer<typeof ProfileState>;

export function emptyGroup(input: { id: string; name: string; kind: 'secret' | 'public'; departmentId: string | null }): GroupLocal {
  return {
    ...input,
    mls: null,
    epochKeys: {},
    cursor: 0,
    readableFrom: 0,
    messages: [],
    counters: {},
    gaps: [],
    rejected: [],
    removed: false,
    pendingCommit: null,
    membershipChecks: [],
    logEpoch: null,
    cursorEpoch: null,
    lastCommitSeq: 0,
    owners: [],
    pcs: { at: 0, sent: 0, revokedOwn: 0 },
    description: null,
    metaSeq: 0,
  };
}
