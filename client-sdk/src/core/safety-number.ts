/** Safety numbers: what two people compare in person (read aloud, or one scans the other's QR code)
 * to be sure the keys the key-transparency log shows them for each other are the keys the other
 * person's devices really hold. A relay that logged a substituted key for one of them — and showed
 * each a consistent log — gives the two a different number.
 *
 * Each person contributes 30 digits computed from their user id and the set of their active
 * devices' full signing keys as the log proves them (`loggedSigningKeys`; order and duplicates do
 * not matter); the two halves are put in a fixed order
 * (by user id), so both people see the same 60 digits. The iterated hash (as Signal's numeric
 * fingerprints do) makes searching for a key that gives a chosen half expensive. Pure: no I/O. */
import { loadedCryptoProvider } from '@agora/protocol/crypto/provider';
import { concatBytes, fromB64u, utf8 } from '@agora/protocol/encoding';

export const SAFETY_NUMBER_VERSION = 1;
/** Hash iterations per half: about 10 ms in a phone's browser, and a cost multiplier on any search. */
export const SAFETY_NUMBER_ITERATIONS = 5200;
const DIGITS_PER_HALF = 30;
const QR_PREFIX = 'agora-sicherheitsnummer:';

export interface SafetyParty {
  userId: string;
  /** The person's active devices' signing keys as the key-transparency log shows them. */
  keys: readonly Uint8Array[];
}

export interface SafetyNumber {
  /** 60 digits. */
  digits: string;
  /** The digits in 12 groups of 5, as people read them aloud. */
  groups: string[];
  /** What the QR code carries; another device compares it with `matchesSafetyQr`. */
  qr: string;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, bytes.length);
  return concatBytes(len, bytes);
}

/** A person's key set, canonical: sorted, without duplicates, each length-prefixed. */
function keySet(keys: readonly Uint8Array[]): Uint8Array {
  const sorted = [...keys].sort(compareBytes).filter((k, i, all) => i === 0 || compareBytes(all[i - 1], k) !== 0);
  return concatBytes(...sorted.map(lengthPrefixed));
}

function half(party: SafetyParty): string {
  if (party.keys.length === 0) throw new RangeError('a safety number needs at least one logged key of each person');
  const keys = keySet(party.keys);
  const version = new Uint8Array([0, SAFETY_NUMBER_VERSION]);
  const { sha512 } = loadedCryptoProvider();
  let h = sha512(concatBytes(version, lengthPrefixed(utf8(party.userId)), keys));
  for (let i = 0; i < SAFETY_NUMBER_ITERATIONS; i++) h = sha512(concatBytes(h, keys));
  let out = '';
  // Six 5-byte chunks, each reduced to five digits (the bias of 2^40 mod 10^5 is negligible).
  for (let c = 0; c < DIGITS_PER_HALF / 5; c++) {
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + h[c * 5 + i];
    out += String(v % 100_000).padStart(5, '0');
  }
  return out;
}

/** The safety number of two people: the same for both, whoever computes it. */
export function safetyNumber(a: SafetyParty, b: SafetyParty): SafetyNumber {
  if (a.userId === b.userId) throw new RangeError('a safety number is between two different people');
  const [first, second] = a.userId < b.userId ? [a, b] : [b, a];
  const digits = half(first) + half(second);
  const groups = digits.match(/.{5}/g) ?? [];
  return { digits, groups, qr: `${QR_PREFIX}${SAFETY_NUMBER_VERSION}:${digits}` };
}

/** Whether a scanned QR code carries this safety number. Anything else (another version, another
 * app's code, stray text) does not match. */
export function matchesSafetyQr(scanned: string, mine: SafetyNumber): boolean {
  return scanned.trim() === mine.qr;
}

/** Digits typed or read from a printout, compared leniently: spaces and dashes do not count. */
export function matchesSafetyDigits(typed: string, mine: SafetyNumber): boolean {
  return typed.replace(/[\s-]/g, '') === mine.digits;
}

/** The full signing keys a safety number is computed over, from what a client's public API gives:
 * the devices the key-transparency log proves for the person (with their key fingerprints) and the
 * relay's directory entries (with the keys themselves). A directory key is used only if it is the
 * one the log fingerprints; undefined when any active logged device has no such key (the relay
 * withheld or changed it: the client raises an alarm for that), so two people never compare
 * numbers computed from different kinds of input. */
export async function loggedSigningKeys(
  logged: readonly { deviceId: string; fingerprint: string; active: boolean }[],
  served: readonly { id: string; signPub: string }[],
): Promise<Uint8Array[] | undefined> {
  const { fingerprint } = await import('@agora/protocol/kt/audit');
  const keys: Uint8Array[] = [];
  for (const d of logged) {
    if (!d.active) continue;
    const entry = served.find((x) => x.id === d.deviceId);
    if (!entry) return undefined;
    let key: Uint8Array;
    try {
      key = fromB64u(entry.signPub);
    } catch {
      return undefined;
    }
    if ((await fingerprint(key)) !== d.fingerprint) return undefined;
    keys.push(key);
  }
  return keys.length > 0 ? keys : undefined;
}
