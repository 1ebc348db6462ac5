/** `agora admin users`: the people and their devices, each with the role the key-transparency log
 * proves. The relay's directory is only its word: a relay (or its database) that calls a member an
 * administrator must not get an IT script to treat them as one. Where the relay's role differs from
 * the log's, or the log does not prove the person at all, the row says so, a warning line names the
 * person, and the command exits 3 (as an audit with findings does) after listing everyone. */
import type { DirectoryResponse, Role } from '@agora/protocol/api';
import { oneLine } from './text.js';

/** What `verifiedRoles` says about one person: the log's role (`verified`), or the relay's word. */
export interface LoggedRole {
  userId: string;
  role: Role;
  verified: boolean;
}

export interface ListedUser {
  id: string;
  name: string;
  status: string;
  departments: string[];
  createdAt: number;
  /** Active devices, as the relay lists them. */
  devices: number;
  /** The role the log proves; null when the log does not prove this person (yet). */
  role: Role | null;
  /** The role the relay's directory claims. */
  relayRole: Role;
}

export interface UserListing {
  users: ListedUser[];
  /** One line per row on which the relay's claim is not what the log proves. */
  warnings: string[];
  /** The rows, tab-separated: id, name, role, status, devices. */
  text: string;
}

export function listUsers(dir: DirectoryResponse, logged: readonly LoggedRole[]): UserListing {
  const byId = new Map(logged.map((l) => [l.userId, l]));
  const users: ListedUser[] = dir.users.map((u) => {
    const l = byId.get(u.id);
    return {
      id: u.id,
      // The relay's word, printed: one line and one column whatever it holds.
      name: oneLine(u.name),
      status: u.status,
      departments: u.departments,
      createdAt: u.createdAt,
      devices: dir.devices.filter((d) => d.userId === u.id && d.status === 'active').length,
      role: l?.verified ? l.role : null,
      relayRole: u.role,
    };
  });
  const warnings: string[] = [];
  const rows = users.map((u) => {
    let role: string = u.role ?? `unverified (relay says ${u.relayRole})`;
    if (u.role === null) {
      warnings.push(`the key-transparency log does not show ${u.name} (${u.id}); the relay says ${u.relayRole}, which is not shown as their role`);
    } else if (u.role !== u.relayRole) {
      role = `${u.role} (relay says ${u.relayRole})`;
      warnings.push(`${u.name} (${u.id}): relay says ${u.relayRole}, log says ${u.role}; the log's role is shown`);
    }
    return `${u.id}\t${u.name}\t${role}\t${u.status}\t${u.devices} device(s)`;
  });
  if (warnings.length > 0) {
    warnings.push('a role just changed or a person just registered may take until the witnesses cosign the log; if this stays, tell the security officer');
  }
  return { users, warnings, text: rows.join('\n') };
}
