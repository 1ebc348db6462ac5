/** The security officer's audit key: an Ed25519 key that signs the relay's challenge to read the
 * whole key-transparency log, and an X25519 key to which secret-group member lists in the log are
 * encrypted. The file stays on the officer's machine; its public half goes into the organisation's
 * policy file (`auditors`). */
import * as z from 'zod';
import { fromB64u, toB64u } from '../encoding.js';
import { platformRandom } from '../crypto/random.js';
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';

const Seed = z.string().refine((s) => {
  try {
    return /^[A-Za-z0-9_-]{43}$/.test(s) && fromB64u(s).length === 32;
  } catch {
    return false;
  }
}, 'expected a base64url 32-byte key');

export const AuditorKeySchema = z.strictObject({
  format: z.literal('agora-auditor-key-v1'),
  name: z.string().min(1).max(200),
  /** Ed25519 seed. */
  signSeed: Seed,
  /** X25519 secret key. */
  encSecret: Seed,
});
export type AuditorKey = z.infer<typeof AuditorKeySchema>;

export function newAuditorKey(name: string): AuditorKey {
  return { format: 'agora-auditor-key-v1', name, signSeed: toB64u(platformRandom(32)), encSecret: toB64u(platformRandom(32)) };
}

/** The entry for the policy file's `auditors` list. */
export function auditorPolicyEntry(key: AuditorKey): { name: string; signPub: string; encPub: string } {
  return {
    name: key.name,
    signPub: toB64u(crypto().ed25519PublicKey(fromB64u(key.signSeed))),
    encPub: toB64u(crypto().x25519Base(fromB64u(key.encSecret))),
  };
}
