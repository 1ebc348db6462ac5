/** What a relay operator who turned hostile holds: the log's signing key (it is in the relay's
 * database) and the entries. These helpers let attack tests forge what such an operator could. */
import Database from 'better-sqlite3';
import path from 'node:path';
import { fromB64u, toB64u } from '@agora/protocol';
import { MerkleLevels, formatCheckpoint, formatNote, parseCheckpoint, parseNote, signNote, leafHash, type NoteSignature } from '@agora/protocol/kt';

export function logKeySeed(dataDir: string): Uint8Array {
  const db = new Database(path.join(dataDir, 'agora.sqlite'), { readonly: true });
  try {
    const row = db.prepare('select value from meta where key = ?').get('kt-log-key') as { value: string };
    return fromB64u(row.value);
  } finally {
    db.close();
  }
}

/** A checkpoint note for `root`/`size`, signed with the log key (and nothing else). */
export function signCheckpoint(origin: string, size: number, root: Uint8Array, seed: Uint8Array, extra: NoteSignature[] = []): string {
  const text = formatCheckpoint({ origin, size, root, extensions: [] });
  return formatNote({ text, signatures: [signNote(text, origin, seed), ...extra] });
}

export function checkpointOf(note: string) {
  return parseCheckpoint(parseNote(note).text);
}

/** A forked log: the real entries plus `extra` appended, with proofs computed from it. */
export class ForkedLog {
  readonly tree: MerkleLevels;
  constructor(readonly entries: Uint8Array[], extra: Uint8Array[]) {
    this.tree = MerkleLevels.fromLeafHashes([...entries, ...extra].map(leafHash));
  }
  get size(): number {
    return this.tree.size;
  }
  root(): Uint8Array {
    return this.tree.root();
  }
  inclusion(index: number): string[] {
    return this.tree.inclusionProof(index, this.size).map(toB64u);
  }
  consistency(from: number): string[] {
    return this.tree.consistencyProof(from, this.size).map(toB64u);
  }
}

/** Cosignature rows written straight into the relay's database, past every check of its API: what
 * an operator (or anyone with the file) can add. */
export function insertCosignatures(dataDir: string, rows: { size: number; vkey: string; name: string; line: string; timestamp: number }[]): void {
  const db = new Database(path.join(dataDir, 'agora.sqlite'));
  try {
    const insert = db.prepare('INSERT INTO kt_cosignatures (size, vkey, name, line, timestamp) VALUES (@size, @vkey, @name, @line, @timestamp)');
    for (const r of rows) insert.run(r);
  } finally {
    db.close();
  }
}
