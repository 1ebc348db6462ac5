/** The persisted record layout of a profile in a `ClientStore`: how one `ProfileState` is split into
 * keyed records and put back together. Pure (no I/O), so it is tested on its own and the store
 * adapter (store-profile.ts) only moves bytes.
 *
 * Layout (store, partition, position → record):
 * - identity, "device", 0: the device record: everything of the state that is not below, plus the
 *   ids of its groups and the records version;
 * - identity, "device", 1 / 2 / 3: the directory, the key-transparency state, the private halves of
 *   the uploaded KeyPackages (each changes on its own schedule, and the directory can be large);
 * - identity, "device", 4: a random token replaced by every save that changes anything, so a reader
 *   that saw the token it wrote last knows nobody else wrote since (see store-profile.ts);
 * - groups, <group id>, 0: the group without its messages, content keys and MLS state;
 * - groups, <group id>, 1: the group's MLS state (large, changes only at commits);
 * - contentKeys, <group id>, <epoch>: one content key per epoch;
 * - messages, <group id>, <log seq>: one stored message.
 * A message read changes one message record and the small group record; nothing else is rewritten.
 *
 * Each record's schema is defined here from core/state.ts, whose shapes are the persisted format's
 * own (not the wire's). The JSON Schema of every record is frozen by a snapshot test: changing
 * one means a new RECORDS_VERSION and a reader for the old one. */
import * as z from 'zod';
import { fromUtf8, utf8 } from '@agora/protocol/encoding';
import { AgoraError } from '../core/errors.js';
import { Directory, GroupLocal, KtLocal, ProfileState, StoredMessage } from '../core/state.js';
import type { StoreName } from '../store/types.js';

/** Version history: 1, the first; 2 added optional fields only (the person an alarm is about, a
 * verified person's role history), so every version-1 record is a valid version-2 record and one
 * reader reads both. */
export const RECORDS_VERSION = 2;
/** The oldest records version this release reads. */
const OLDEST_READABLE_VERSION = 1;

export const IDENTITY_PART = 'device';
export const IDENTITY = { device: 0, directory: 1, kt: 2, keyPackages: 3, generation: 4 } as const;
export const GROUP = { state: 0, mls: 1 } as const;

export const DeviceRecord = ProfileState.omit({ groups: true, directory: true, kt: true, keyPackages: true }).extend({
  recordsVersion: z.number().int().min(OLDEST_READABLE_VERSION).max(RECORDS_VERSION),
  /** The groups this device keeps, so they can be found: partitions are stored hashed. */
  groupIds: z.array(z.string()),
});
export const DirectoryRecord = Directory;
export const KtRecord = KtLocal;
export const KeyPackagesRecord = z.object({ keyPackages: ProfileState.shape.keyPackages });
export const GroupRecord = GroupLocal.omit({ messages: true, epochKeys: true, mls: true });
export const MlsRecord = z.object({ mls: z.string().nullable() });
export const ContentKeyRecord = z.object({ key: z.string() });
export const MessageRecord = StoredMessage;
export const GenerationRecord = z.object({ generation: z.string() });

/** Every record schema by name, for the snapshot test and the docs. */
export const RECORD_SCHEMAS = {
  device: DeviceRecord,
  directory: DirectoryRecord,
  kt: KtRecord,
  keyPackages: KeyPackagesRecord,
  group: GroupRecord,
  mls: MlsRecord,
  contentKey: ContentKeyRecord,
  message: MessageRecord,
  generation: GenerationRecord,
} as const;

/** A record of a state. Most are encoded up front (`bytes`: canonical JSON, the schema's key order,
 * unknown keys dropped); content keys and messages, the many small ones, are kept as values and
 * encoded only when written, so a save compares thousands of them without serialising them. */
export type ProfileRecord = { store: StoreName; part: string; index: number } & (
  | { kind: 'json'; bytes: Uint8Array }
  | { kind: 'key'; key: string }
  | { kind: 'message'; message: StoredMessage }
);

export function recordBytes(r: ProfileRecord): Uint8Array {
  if (r.kind === 'json') return r.bytes;
  if (r.kind === 'key') return encode(ContentKeyRecord, { key: r.key });
  const m = r.message;
  // Built field by field (the schema's order): a schema parse per message would be the main cost.
  return utf8(JSON.stringify({ id: m.id, seq: m.seq, sender: m.sender, senderDevice: m.senderDevice, sentAt: m.sentAt, text: m.text }));
}

/** Whether two records of the same key hold the same content. */
export function sameMessage(a: StoredMessage, b: StoredMessage): boolean {
  return a.id === b.id && a.seq === b.seq && a.sender === b.sender && a.senderDevice === b.senderDevice && a.sentAt === b.sentAt && a.text === b.text;
}

/** One string per record key, for maps of what is stored. */
export function recordId(store: string, part: string, index: number): string {
  return `${store}\u0000${part}\u0000${index}`;
}

const encode = <S extends z.ZodType>(schema: S, value: z.input<S>): Uint8Array => utf8(JSON.stringify(schema.parse(value)));

const EPOCH_KEY = /^(0|[1-9][0-9]*)$/;

/** The records of a state. Throws on a state that does not fit the persisted format (a bug: it
 * must not be written and then fail to load). */
export function profileRecords(state: ProfileState): ProfileRecord[] {
  const { groups, directory, kt, keyPackages, ...device } = state;
  const json = (store: StoreName, part: string, index: number, bytes: Uint8Array): ProfileRecord => ({ store, part, index, kind: 'json', bytes });
  const out: ProfileRecord[] = [
    json('identity', IDENTITY_PART, IDENTITY.device, encode(DeviceRecord, { ...device, recordsVersion: RECORDS_VERSION, groupIds: Object.keys(groups) })),
    json('identity', IDENTITY_PART, IDENTITY.directory, encode(DirectoryRecord, directory)),
    json('identity', IDENTITY_PART, IDENTITY.kt, encode(KtRecord, kt)),
    json('identity', IDENTITY_PART, IDENTITY.keyPackages, encode(KeyPackagesRecord, { keyPackages })),
  ];
  for (const [id, group] of Object.entries(groups)) {
    if (group.id !== id) throw new Error(`group ${id} is saved under another id (${group.id})`);
    const { messages, epochKeys, mls, ...rest } = group;
    out.push(json('groups', id, GROUP.state, encode(GroupRecord, rest)));
    out.push(json('groups', id, GROUP.mls, encode(MlsRecord, { mls })));
    for (const [epoch, key] of Object.entries(epochKeys)) {
      if (!EPOCH_KEY.test(epoch) || !Number.isSafeInteger(Number(epoch))) throw new Error(`group ${id} has a content key under "${epoch}", which is not an epoch`);
      if (typeof key !== 'string') throw new Error(`group ${id} has a content key that is not a string`);
      out.push({ store: 'contentKeys', part: id, index: Number(epoch), kind: 'key', key });
    }
    const seqs = new Set<number>();
    for (const m of messages) {
      // One log entry is at most one message, so its seq is its key.
      if (seqs.has(m.seq)) throw new Error(`group ${id} holds two messages at log position ${m.seq}`);
      seqs.add(m.seq);
      if (!Number.isSafeInteger(m.seq) || m.seq < 0) throw new Error(`group ${id} holds a message at log position ${m.seq}`);
      out.push({ store: 'messages', part: id, index: m.seq, kind: 'message', message: m });
    }
  }
  return out;
}

/** What a reader hands back: a record's plaintext by key, and every record of a group partition. */
export interface RecordReader {
  get(store: StoreName, part: string, index: number): Promise<Uint8Array | undefined>;
  all(store: StoreName, part: string): Promise<{ index: number; value: Uint8Array }[]>;
}

function decode<S extends z.ZodType>(schema: S, bytes: Uint8Array | undefined, what: string, where: string): z.output<S> {
  if (bytes === undefined) throw new AgoraError('profile_corrupt', `the profile at ${where} lacks its ${what} record`);
  let json: unknown;
  try {
    json = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new AgoraError('profile_corrupt', `the ${what} record of the profile at ${where} is not readable`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new AgoraError('profile_corrupt', `the ${what} record of the profile at ${where} has an unsupported format (${parsed.error.issues[0]?.path.join('.') || 'format'})`);
  return parsed.data;
}

/** The save token (see IDENTITY.generation); undefined in a store no save has finished in. */
export async function readGeneration(reader: RecordReader, where: string): Promise<string | undefined> {
  const bytes = await reader.get('identity', IDENTITY_PART, IDENTITY.generation);
  return bytes === undefined ? undefined : decode(GenerationRecord, bytes, 'generation', where).generation;
}

export function generationRecord(generation: string): ProfileRecord {
  return { store: 'identity', part: IDENTITY_PART, index: IDENTITY.generation, kind: 'json', bytes: encode(GenerationRecord, { generation }) };
}

/** Reads a whole state back. `onRecord` sees every record read (to remember what is stored), except
 * the generation token. `messages: false` leaves every group's messages out (empty), unread. */
export async function readProfile(reader: RecordReader, where: string, onRecord: (r: ProfileRecord) => void, opts: { messages?: boolean } = {}): Promise<ProfileState> {
  const get = async (store: StoreName, part: string, index: number) => {
    const bytes = await reader.get(store, part, index);
    if (bytes !== undefined) onRecord({ store, part, index, kind: 'json', bytes });
    return bytes;
  };
  const deviceBytes = await get('identity', IDENTITY_PART, IDENTITY.device);
  if (deviceBytes === undefined) throw new AgoraError('not_registered', `no Agora profile at ${where}: run "agora register" first`);
  const version = z.object({ recordsVersion: z.number() }).safeParse(JSON.parse(fromUtf8(deviceBytes)));
  if (version.success && version.data.recordsVersion > RECORDS_VERSION) {
    throw new AgoraError('profile_corrupt', `the profile at ${where} was written by a newer release (records version ${version.data.recordsVersion}; this one reads ${RECORDS_VERSION})`);
  }
  const { recordsVersion: _v, groupIds, ...device } = decode(DeviceRecord, deviceBytes, 'device', where);
  const directory = decode(DirectoryRecord, await get('identity', IDENTITY_PART, IDENTITY.directory), 'directory', where);
  const kt = decode(KtRecord, await get('identity', IDENTITY_PART, IDENTITY.kt), 'key-transparency', where);
  const { keyPackages } = decode(KeyPackagesRecord, await get('identity', IDENTITY_PART, IDENTITY.keyPackages), 'KeyPackage', where);
  const groups: ProfileState['groups'] = {};
  for (const id of groupIds) {
    const rest = decode(GroupRecord, await get('groups', id, GROUP.state), `group ${id}`, where);
    const { mls } = decode(MlsRecord, await get('groups', id, GROUP.mls), `group ${id} MLS`, where);
    const epochKeys: Record<string, string> = {};
    for (const { index, value } of await reader.all('contentKeys', id)) {
      const { key } = decode(ContentKeyRecord, value, `group ${id} content key`, where);
      onRecord({ store: 'contentKeys', part: id, index, kind: 'key', key });
      epochKeys[String(index)] = key;
    }
    const messages: StoredMessage[] = [];
    for (const { index, value } of opts.messages === false ? [] : await reader.all('messages', id)) {
      const m = decode(MessageRecord, value, `group ${id} message`, where);
      if (m.seq !== index) throw new AgoraError('profile_corrupt', `a message record of group ${id} in the profile at ${where} is not at its own position`);
      onRecord({ store: 'messages', part: id, index, kind: 'message', message: { ...m } });
      messages.push(m);
    }
    if (rest.id !== id) throw new AgoraError('profile_corrupt', `the group record ${id} of the profile at ${where} names another group`);
    groups[id] = { ...rest, mls, epochKeys, messages };
  }
  return { ...device, directory, kt, keyPackages, groups };
}
