/** What the machine's operations return to an app, and the constants they share. */
import type * as api from '@agora/protocol/api';

/** A group as the client shows it: a secret group's name is filled in from its members' meta record. */
export type NamedGroup = api.GroupView & { name: string };

export interface GroupSummary {
  id: string;
  name: string;
  /** Secret groups: the description in the group's latest meta record, if any. */
  description?: string;
  kind: 'secret' | 'public';
  departmentId: string | null;
  isMember: boolean;
  epoch: number | null;
  members: number;
  /** Who created it, as the relay records it (null for a department's groups): with the role, says
   * who may rename or delete a public group. Absent where the relay's view was not at hand. */
  createdBy?: string | null;
}

export interface MessageView {
  id: string;
  /** The message's position in its group's log: the order every member sees, whatever order the
   * push channel or a catch-up delivered it in (sentAt is the sender's clock, not an order). */
  seq: number;
  sender: string;
  senderName: string;
  sentAt: number;
  text: string;
}

export interface SyncReport {
  newMessages: { groupId: string; message: MessageView }[];
  warnings: string[];
}

/** A person's keys as this device verified them in the key-transparency log. */
export interface VerifiedPerson {
  userId: string;
  name: string;
  status: string;
  devices: { deviceId: string; fingerprint: string; active: boolean; approvedBy: string; addedAt: number; vouched: boolean }[];
  checkpointSize: number;
  quorum: number;
}

export const HISTORY_FORMAT = 'agora-history-v1';
/** An administrator usually deactivates from a device that rotates at once; this only covers the
 * case where that device went away before it could. */
export const DEFAULT_ROTATION_GRACE_MS = 15 * 60_000;
/** Every member device refreshes its leaf with an update commit after at most this long (at
 * least four fifths of it)... */
export const UPDATE_AFTER_MS = 7 * 24 * 3600 * 1000;
/** ...or after sending this many records in the group, whichever comes first (docs/protocol.md). */
export const UPDATE_AFTER_RECORDS = 1_000;
