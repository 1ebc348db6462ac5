/** Store rows to wire objects. Fields are copied one by one so a store's extra fields (a
 * database's internal ids, future columns) never leak onto the wire by accident. */
import type { Department, Device, Group, LogEntry, MailboxItem, StoredEnvelope, User } from '@agora/protocol';
import type { DepartmentRow, DeviceRow, EnvelopeRow, GroupRow, LogEntryRow, MailboxRow, UserRow } from './store/types.js';

export function userView(row: UserRow, departments: string[]): User {
  return { id: row.id, name: row.name, role: row.role, status: row.status, departments, createdAt: row.createdAt };
}

export function deviceView(row: DeviceRow): Device {
  return {
    id: row.id, userId: row.userId, signPub: row.signPub, encPub: row.encPub, status: row.status,
    createdAt: row.createdAt, enrolledBy: row.enrolledBy,
  };
}

export function departmentView(row: DepartmentRow, members: string[]): Department {
  return { id: row.id, name: row.name, publicGroupId: row.publicGroupId, secretGroupId: row.secretGroupId, members };
}

export function groupBase(row: GroupRow): Group {
  return {
    // a secret group's name is its members' secret, whatever a store holds
    id: row.id, name: row.kind === 'secret' ? null : row.name, kind: row.kind, departmentId: row.departmentId, epoch: row.epoch,
    createdBy: row.createdBy, createdAt: row.createdAt, head: row.head,
  };
}

export function logEntryView(row: LogEntryRow): LogEntry {
  const entry: LogEntry = {
    seq: row.seq, kind: row.kind, epoch: row.epoch, sender: row.sender, at: row.at, payload: row.payload,
  };
  if (row.added !== undefined) entry.added = row.added;
  if (row.removed !== undefined) entry.removed = row.removed;
  return entry;
}

export function mailboxView(row: MailboxRow): MailboxItem {
  return {
    seq: row.seq, kind: row.kind, groupId: row.groupId, groupSeq: row.groupSeq, epoch: row.epoch, from: row.from,
    at: row.at, payload: row.payload,
  };
}

export function envelopeView(row: EnvelopeRow): StoredEnvelope {
  return { generation: row.generation, deviceId: row.deviceId, sealed: row.sealed, sealedBy: row.sealedBy, at: row.at };
}
