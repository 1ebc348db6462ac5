/** Timing probes for the lead's benchmark; they use the real functions and fresh keys, nothing cached
 * between the seal and open loops except what the SDK itself caches in normal use. */
import { newId } from '@agora/protocol/encoding';
import { generateDeviceKeys } from '@agora/protocol/crypto/device-keys';
import { newOrgKey, sealOrgKey } from './orgkeys.js';
import { deriveProfileKey, newKdfParams, type KdfParams } from './profile-crypto.js';
import { openRecord, sealRecord, type ContentRecord } from './records.js';

const now = (): number => globalThis.performance.now();

export interface RecordCryptoTiming {
  iterations: number;
  /** Microseconds per sealRecord (canonical encoding, Ed25519 signature, padding, AEAD, base64url). */
  sealUs: number;
  /** Microseconds per openRecord (base64url, AEAD, parse and validate, Ed25519 verification). */
  openUs: number;
  /** Ciphertext length in base64url characters of the measured record. */
  ciphertextChars: number;
}

/** Seals `iterations` distinct records (a 200-character text) and opens each of them once. */
export async function measureRecordCrypto(iterations: number, textChars = 200): Promise<RecordCryptoTiming> {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError('iterations must be a positive integer');
  const device = await generateDeviceKeys();
  const key = newOrgKey();
  const groupId = newId('g');
  const senderDeviceId = newId('d');
  const template: ContentRecord = {
    v: 1,
    id: newId('r'),
    groupId,
    epoch: 7,
    senderUserId: newId('u'),
    senderDeviceId,
    counter: 1,
    sentAt: 1_700_000_000_000,
    type: 'text',
    body: { text: 'x'.repeat(textChars) },
  };
  const records = Array.from({ length: iterations }, (_, i) => ({ ...template, id: newId('r'), counter: i + 1 }));
  const openInput = (ciphertext: string) => ({ ciphertext, key, groupId, epoch: 7, senderDeviceId, senderSignPub: device.signPub });

  // Warm-up: loads libsodium, expands the signing key and lets the JIT settle.
  for (let i = 0; i < Math.min(50, iterations); i++) {
    await openRecord(openInput(await sealRecord({ record: records[i], key, signSeed: device.signSeed })));
  }

  const ciphertexts: string[] = new Array(iterations);
  let t = now();
  for (let i = 0; i < iterations; i++) ciphertexts[i] = await sealRecord({ record: records[i], key, signSeed: device.signSeed });
  const sealUs = ((now() - t) * 1000) / iterations;
  t = now();
  for (let i = 0; i < iterations; i++) await openRecord(openInput(ciphertexts[i]));
  const openUs = ((now() - t) * 1000) / iterations;
  return { iterations, sealUs, openUs, ciphertextChars: ciphertexts[0].length };
}

/** Milliseconds for one Argon2id derivation with `params` (default: what newKdfParams chooses). */
export async function measureKdf(params: KdfParams = newKdfParams()): Promise<number> {
  await deriveProfileKey('warm-up', { ...params, opslimit: 1, memlimit: 8 * 1024 * 1024 });
  const t = now();
  await deriveProfileKey('correct horse battery staple', params);
  return now() - t;
}

/** Microseconds per organisation-key envelope (sign + sealed box), as when a generation is sealed to
 * every device of the organisation. */
export async function measureOrgKeySeal(iterations: number): Promise<number> {
  if (!Number.isInteger(iterations) || iterations < 1) throw new RangeError('iterations must be a positive integer');
  const sealer = await generateDeviceKeys();
  const recipient = await generateDeviceKeys();
  const input = {
    generation: 1,
    key: newOrgKey(),
    recipient: { deviceId: newId('d'), encPub: recipient.encPub },
    sealer: { deviceId: newId('d'), signSeed: sealer.signSeed },
  };
  await sealOrgKey(input);
  const t = now();
  for (let i = 0; i < iterations; i++) await sealOrgKey(input);
  return ((now() - t) * 1000) / iterations;
}
