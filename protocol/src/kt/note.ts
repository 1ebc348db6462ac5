/** C2SP signed-note (c2sp.org/signed-note) and tlog-checkpoint (c2sp.org/tlog-checkpoint) bodies.
 * Parsing follows golang.org/x/mod/sumdb/note's Open byte for byte (same separator rule, same
 * character and name rules, same 100-signature cap) and is stricter in one place: base64 must be
 * canonical, so a parsed note formats back to exactly the same text. */
import { loadedCryptoProvider as crypto } from '../crypto/provider.js';
import { bytesEqual, concatBytes, utf8 } from '../encoding.js';
import { decodeBase64, encodeBase64 } from './base64.js';

export class NoteError extends Error {
  override name = 'NoteError';
}

/** Signature type bytes from the signed-note registry. */
export const SIG_TYPE_ED25519 = 0x01;
export const SIG_TYPE_COSIGNATURE_V1 = 0x04;

/** Go's sumdb/note cap; the spec asks verifiers to accept at least 16. */
export const MAX_NOTE_SIGNATURES = 100;

export interface NoteSignature {
  name: string;
  /** 4 bytes: the big-endian key ID. */
  keyId: Uint8Array;
  /** The bytes after the key ID (for Ed25519, the 64-byte signature; for cosignatures, timestamp ‖ signature). */
  signature: Uint8Array;
}

export interface Note {
  /** The signed text, including its final newline but not the blank separator line. */
  text: string;
  signatures: NoteSignature[];
}

export interface Verifier {
  name: string;
  keyId: Uint8Array;
  /** `sig` is the signature without its 4-byte key ID. */
  verify(text: Uint8Array, sig: Uint8Array): boolean;
}

// ---- names, key IDs, vkeys ----------------------------------------------------------------------

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// The ASCII controls other than newline; the spec forbids them anywhere in a note.
const FORBIDDEN_CONTROL = /[\u0000-\u0009\u000B-\u001F]/;
// Go's unicode.IsSpace is exactly the Unicode White_Space property.
const UNICODE_SPACE = /\p{White_Space}/u;

/** Key names: non-empty, valid UTF-8, no Unicode spaces, no '+'. */
export function isValidKeyName(name: string): boolean {
  return typeof name === 'string' && name !== '' && !LONE_SURROGATE.test(name) && !UNICODE_SPACE.test(name) && !name.includes('+');
}

/** Valid UTF-8 (a JS string with no lone surrogates) and no ASCII control other than newline. */
export function isValidNoteText(text: string): boolean {
  return typeof text === 'string' && !LONE_SURROGATE.test(text) && !FORBIDDEN_CONTROL.test(text);
}

/** key ID = SHA-256(key name ‖ 0x0A ‖ signature type ‖ public key)[:4]. */
export function keyIdFor(name: string, type: number, publicKey: Uint8Array): Uint8Array {
  return crypto().sha256(concatBytes(utf8(name), Uint8Array.of(0x0a, type), publicKey)).slice(0, 4);
}

export function ed25519KeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return keyIdFor(name, SIG_TYPE_ED25519, publicKey);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function checkEd25519Key(name: string, publicKey: Uint8Array): void {
  if (!isValidKeyName(name)) throw new NoteError('invalid key name');
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new NoteError('an Ed25519 public key is 32 bytes');
}

/** `<name>+<hex key ID>+<base64(type ‖ public key)>`. */
export function formatVkey(name: string, type: number, publicKey: Uint8Array): string {
  checkEd25519Key(name, publicKey);
  return `${name}+${hex(keyIdFor(name, type, publicKey))}+${encodeBase64(concatBytes(Uint8Array.of(type), publicKey))}`;
}

export function ed25519Vkey(name: string, publicKey: Uint8Array): string {
  return formatVkey(name, SIG_TYPE_ED25519, publicKey);
}

const HEX8 = /^[0-9a-f]{8}$/;

/** `<name>+<hex key ID>+<base64 material>`, the shape shared by verifier and signer keys. */
function splitKeyString(text: string, error: string): { name: string; id: string; material: Uint8Array | undefined } {
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (second < 0) throw new NoteError(error);
  return { name: text.slice(0, first), id: text.slice(first + 1, second), material: decodeBase64(text.slice(second + 1)) };
}

/** Parses a vkey of type 0x01 (Ed25519 note key) or 0x04 (Ed25519 cosignature/v1 key), checking
 * that its key ID is the one its name, type and key produce. Other types are refused. */
export function parseVkey(vkey: string): { name: string; keyId: Uint8Array; type: number; publicKey: Uint8Array } {
  if (typeof vkey !== 'string') throw new NoteError('malformed verifier key');
  const { name, id, material } = splitKeyString(vkey, 'malformed verifier key');
  if (!isValidKeyName(name) || !HEX8.test(id) || !material || material.length === 0) throw new NoteError('malformed verifier key');
  const type = material[0];
  const publicKey = material.slice(1);
  if (type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) throw new NoteError('unsupported verifier key type');
  if (publicKey.length !== 32) throw new NoteError('malformed verifier key');
  const keyId = keyIdFor(name, type, publicKey);
  if (hex(keyId) !== id) throw new NoteError('verifier key ID does not match its key');
  return { name, keyId, type, publicKey };
}

/** `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`, sumdb/note's signer-key format. */
export function ed25519Skey(name: string, seed: Uint8Array): string {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new NoteError('an Ed25519 seed is 32 bytes');
  const publicKey = crypto().ed25519PublicKey(seed);
  checkEd25519Key(name, publicKey);
  return `PRIVATE+KEY+${name}+${hex(ed25519KeyId(name, publicKey))}+${encodeBase64(concatBytes(Uint8Array.of(SIG_TYPE_ED25519), seed))}`;
}

/** Parses an Ed25519 signer key; the key ID is checked against the public key derived from the seed. */
export function parseSkey(skey: string): { name: string; keyId: Uint8Array; seed: Uint8Array; publicKey: Uint8Array } {
  if (typeof skey !== 'string' || !skey.startsWith('PRIVATE+KEY+')) throw new NoteError('malformed signer key');
  const { name, id, material } = splitKeyString(skey.slice('PRIVATE+KEY+'.length), 'malformed signer key');
  if (!isValidKeyName(name) || !HEX8.test(id) || !material || material.length !== 33 || material[0] !== SIG_TYPE_ED25519) {
    throw new NoteError('malformed signer key');
  }
  const seed = material.slice(1);
  const publicKey = crypto().ed25519PublicKey(seed);
  const keyId = ed25519KeyId(name, publicKey);
  if (hex(keyId) !== id) throw new NoteError('signer key ID does not match its key');
  return { name, keyId, seed, publicKey };
}

/** RFC 8032 verification with canonical encodings (and small-order keys refused), never throwing. */
export function ed25519VerifyStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return crypto().ed25519Verify(publicKey, message, signature);
}

export function ed25519Verifier(name: string, publicKey: Uint8Array): Verifier {
  checkEd25519Key(name, publicKey);
  const key = publicKey.slice();
  return { name, keyId: ed25519KeyId(name, key), verify: (text, sig) => ed25519VerifyStrict(key, text, sig) };
}

/** A Verifier for an Ed25519 (type 0x01) vkey. */
export function verifierFromVkey(vkey: string): Verifier {
  const k = parseVkey(vkey);
  if (k.type !== SIG_TYPE_ED25519) throw new NoteError('not an Ed25519 note key');
  return ed25519Verifier(k.name, k.publicKey);
}

/** An Ed25519 note signature over `text` (which must end in a newline). */
export function signNote(text: string, name: string, seed: Uint8Array): NoteSignature {
  if (!isValidNoteText(text) || !text.endsWith('\n')) throw new NoteError('malformed note text');
  if (!(seed instanceof Uint8Array) || seed.length !== 32) throw new NoteError('an Ed25519 seed is 32 bytes');
  const publicKey = crypto().ed25519PublicKey(seed);
  checkEd25519Key(name, publicKey);
  return { name, keyId: ed25519KeyId(name, publicKey), signature: crypto().ed25519Sign(seed, utf8(text)) };
}

// ---- notes --------------------------------------------------------------------------------------

const SIG_PREFIX = '\u2014 '; // em dash, space

/** Strict parse; does not verify anything. Throws NoteError on any deviation from the format. */
export function parseNote(note: string): Note {
  if (!isValidNoteText(note)) throw new NoteError('malformed note: invalid characters');
  // The text is separated from the signatures by the last blank line.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new NoteError('malformed note: no signature block');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block === '' || !block.endsWith('\n')) throw new NoteError('malformed note: signature block');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteError('malformed note: too many signatures');
  const signatures = lines.map((line): NoteSignature => {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteError('malformed note: signature line');
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    const raw = decodeBase64(b64);
    if (!raw || b64 === '' || !isValidKeyName(name) || raw.length < 5) throw new NoteError('malformed note: signature line');
    return { name, keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { text, signatures };
}

export function formatSignatureLine(sig: NoteSignature): string {
  if (!isValidKeyName(sig.name)) throw new NoteError('invalid key name');
  if (!(sig.keyId instanceof Uint8Array) || sig.keyId.length !== 4) throw new NoteError('a key ID is 4 bytes');
  if (!(sig.signature instanceof Uint8Array) || sig.signature.length === 0) throw new NoteError('empty signature');
  return `${SIG_PREFIX}${sig.name} ${encodeBase64(concatBytes(sig.keyId, sig.signature))}\n`;
}

/** The exact inverse of parseNote; refuses anything parseNote would refuse. */
export function formatNote(note: Note): string {
  if (!isValidNoteText(note.text) || !note.text.endsWith('\n')) throw new NoteError('malformed note text');
  if (note.signatures.length === 0) throw new NoteError('a signed note needs at least one signature');
  if (note.signatures.length > MAX_NOTE_SIGNATURES) throw new NoteError('too many signatures');
  return `${note.text}\n${note.signatures.map(formatSignatureLine).join('')}`;
}

/** Parses `note` and checks it as sumdb/note's Open does: lines from unknown keys (name and key ID
 * not both matching a verifier) are ignored; a line from a known key that fails to verify rejects
 * the whole note; so does a note with no verified signature, or a line matching two verifiers.
 * Repeated lines from one key are verified once. Returns the verified signatures. */
export function openNote(note: string, verifiers: Verifier[]): { note: Note; verified: NoteSignature[] } {
  const parsed = parseNote(note);
  const text = utf8(parsed.text);
  const verified: NoteSignature[] = [];
  const seen = new Set<string>();
  for (const sig of parsed.signatures) {
    const matches = verifiers.filter((v) => v.name === sig.name && bytesEqual(v.keyId, sig.keyId));
    if (matches.length === 0) continue;
    if (matches.length > 1) throw new NoteError('ambiguous verifier key');
    const id = `${sig.name}+${hex(sig.keyId)}`;
    if (seen.has(id)) continue;
    seen.add(id);
    if (!matches[0].verify(text, sig.signature)) throw new NoteError('invalid signature from a known key');
    verified.push(sig);
  }
  if (verified.length === 0) throw new NoteError('note has no verifiable signatures');
  return { note: parsed, verified };
}

// ---- checkpoint bodies (c2sp.org/tlog-checkpoint) -----------------------------------------------

export interface Checkpoint {
  origin: string;
  size: number;
  /** 32-byte RFC 6962 root hash. */
  root: Uint8Array;
  /** Opaque extension lines (without newlines), if any. */
  extensions: string[];
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Parses a checkpoint body (a note's text): origin, size, base64 root, then optional non-empty
 * extension lines, each newline-terminated. Sizes above 2^53 − 1 are refused. */
export function parseCheckpoint(body: string): Checkpoint {
  if (!isValidNoteText(body) || !body.endsWith('\n')) throw new NoteError('malformed checkpoint');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3 || lines.some((l) => l === '')) throw new NoteError('malformed checkpoint');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!DECIMAL.test(sizeText)) throw new NoteError('malformed checkpoint size');
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new NoteError('checkpoint size out of range');
  const root = decodeBase64(rootText);
  if (!root || root.length !== 32) throw new NoteError('malformed checkpoint root');
  return { origin, size, root, extensions };
}

export function formatCheckpoint(c: Checkpoint): string {
  if (typeof c.origin !== 'string' || c.origin === '' || c.origin.includes('\n') || !isValidNoteText(c.origin)) {
    throw new NoteError('invalid checkpoint origin');
  }
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw new NoteError('invalid checkpoint size');
  if (!(c.root instanceof Uint8Array) || c.root.length !== 32) throw new NoteError('a checkpoint root is 32 bytes');
  for (const e of c.extensions) {
    if (typeof e !== 'string' || e === '' || e.includes('\n') || !isValidNoteText(e)) throw new NoteError('invalid checkpoint extension line');
  }
  return [c.origin, String(c.size), encodeBase64(c.root), ...c.extensions].map((l) => `${l}\n`).join('');
}
