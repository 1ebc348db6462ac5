/** What each kind of key-transparency alarm means for the person, and what to do: the SDK's own
 * message (English, technical) stays available as a detail. */
import type { MessageKey } from '../i18n/index.js';

interface AlarmWords {
  what: MessageKey;
  todo: MessageKey;
}

const BY_KIND: Record<string, AlarmWords> = {
  key_substitution: { what: 'alarm.keySubstitution', todo: 'alarm.todo.compare' },
  bad_chain: { what: 'alarm.keySubstitution', todo: 'alarm.todo.compare' },
  name_mismatch: { what: 'alarm.nameMismatch', todo: 'alarm.todo.officer' },
  role_mismatch: { what: 'alarm.roleMismatch', todo: 'alarm.todo.officer' },
  unknown_device: { what: 'alarm.unknownDevice', todo: 'alarm.todo.ownDevices' },
  device_added_by_admin: { what: 'alarm.deviceAddedByAdmin', todo: 'alarm.todo.ownDevices' },
  fork: { what: 'alarm.fork', todo: 'alarm.todo.officerNow' },
  rollback: { what: 'alarm.fork', todo: 'alarm.todo.officerNow' },
  forged_checkpoint: { what: 'alarm.forged', todo: 'alarm.todo.officerNow' },
  hidden_entries: { what: 'alarm.hidden', todo: 'alarm.todo.officerNow' },
  bad_gossip: { what: 'alarm.forged', todo: 'alarm.todo.officerNow' },
  unverifiable: { what: 'alarm.unverifiable', todo: 'alarm.todo.retry' },
  membership_mismatch: { what: 'alarm.membership', todo: 'alarm.todo.officer' },
  claim_mismatch: { what: 'alarm.claim', todo: 'alarm.todo.officer' },
  commit_refused: { what: 'alarm.commitRefused', todo: 'alarm.todo.officer' },
  bad_generation: { what: 'alarm.orgKey', todo: 'alarm.todo.officer' },
  orgkey_substitution: { what: 'alarm.orgKey', todo: 'alarm.todo.officer' },
  revocation_missing: { what: 'alarm.revocationMissing', todo: 'alarm.todo.officerNow' },
  role_change_missing: { what: 'alarm.roleChangeMissing', todo: 'alarm.todo.officerNow' },
};

export function alarmWords(kind: string): AlarmWords {
  return BY_KIND[kind] ?? { what: 'alarm.other', todo: 'alarm.todo.officer' };
}
