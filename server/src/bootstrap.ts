/** First start: create the organisation, the key-transparency log key and the one-time invite for
 * its first administrator. That invite is the only one the relay makes itself: its enrolment is
 * trust on first use, which the audit flags for the security officer to confirm out of band. */
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ZERO_SIG, invitePublicKey } from '@agora/protocol/kt';
import { LIMITS, inviteHash, newId, toB64u } from '@agora/protocol';
import { generateInviteCode } from './invites.js';
import { ensureLogKey } from './kt/log.js';
import type { Store } from './store/types.js';

export const ADMIN_INVITE_FILE = 'admin-invite.txt';

/** Returns the admin invite code if this call created the organisation, else undefined (it
 * existed already, or another relay instance on the same store created it first). */
export async function bootstrapOrganisation(
  store: Store,
  opts: { dataDir: string; orgName: string; now: () => number },
): Promise<string | undefined> {
  if (await store.getOrg()) return undefined;
  const code = generateInviteCode();
  const at = opts.now();
  const created = await store.bootstrapOrg(
    { id: newId('o'), name: opts.orgName, createdAt: at },
    {
      codeHash: Buffer.from(inviteHash(code)).toString('hex'), kind: 'user', name: null, role: 'admin', departmentId: null,
      userId: null, bootstrap: true, createdBy: null, createdAt: at, expiresAt: at + LIMITS.inviteTtlMs, usedAt: null,
      invitePub: toB64u(invitePublicKey(code)), approverDeviceId: '', approval: toB64u(ZERO_SIG),
    },
  );
  if (!created) return undefined;
  await ensureLogKey(store);
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const file = join(opts.dataDir, ADMIN_INVITE_FILE);
  // The mode given to open applies only to a new file: a leftover one is narrowed before the code
  // is written into it, so the code is never readable by others, not even for a moment.
  const fd = openSync(file, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeFileSync(fd, `${code}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return code;
}
