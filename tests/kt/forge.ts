/** What a relay operator who turned hostile holds: the log's signing key (it is in the relay's
 * database) and the entries. These helpers let attack tests forge what such an operator could. */
import Database from 'better-sqlite3';
import path from 'node:path';
import { fromB64u, toB64u, type KtUserResponse, type KtUsersRequest } from '@agora/protocol';
import type { KtHttp } from '../../client-sdk/src/transport/kt-http.js';
import type { EvilRelay } from './evil-relay.js';
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

/** Makes `proxy` show its clients a fork of the log (a split view): the real entries plus a copy of
 * the last one, under a checkpoint signed with the log's own key, with consistency and inclusion
 * proofs and people's entries all consistent with that fork. `upstream` reads the real relay's
 * answer for a path (as an auditor). Returns the forked checkpoint note. */
export async function showForkedLog(
  proxy: EvilRelay,
  opts: { kt: KtHttp; dataDir: string; upstream: <T>(path: string) => Promise<T> },
): Promise<string> {
  const real = checkpointOf((await opts.kt.checkpoint()).checkpoint);
  const entries = await opts.kt.allEntries(real.size);
  const fork = new ForkedLog(entries, [entries[entries.length - 1]]);
  const forkNote = signCheckpoint(real.origin, fork.size, fork.root(), logKeySeed(opts.dataDir));
  proxy.set(async (ex) => {
    if (ex.path.startsWith('/v1/kt/checkpoint')) return { body: { checkpoint: forkNote, size: fork.size, cosigners: [] } };
    const q = new URL(ex.path, 'http://x').searchParams;
    if (ex.path.startsWith('/v1/kt/proof/consistency')) {
      if (Number(q.get('to')) !== fork.size) return { status: 400, body: { error: { code: 'invalid_field', message: 'size', field: 'to' } } };
      return { body: { proof: fork.consistency(Number(q.get('from'))) } };
    }
    if (ex.path.startsWith('/v1/kt/entries')) {
      const start = Number(q.get('start'));
      const forked = [...entries, entries[entries.length - 1]].slice(start, Math.min(Number(q.get('end')), fork.size));
      return { body: { entries: forked.map((e, i) => ({ index: start + i, entry: toB64u(e) })) } };
    }
    if (ex.path.startsWith('/v1/kt/proof/inclusion') && Number(q.get('size')) === fork.size) {
      return { body: { proof: fork.inclusion(Number(q.get('index'))) } };
    }
    // A person's entries and snapshot as the fork proves them, alone or several in one request.
    const forked = async (userId: string): Promise<KtUserResponse | null> => {
      const body = await opts.upstream<KtUserResponse>(`/v1/kt/users/${userId}?size=${real.size}`);
      if (!body.entries) return null;
      return {
        ...body,
        size: fork.size,
        entries: body.entries.map((e) => ({ ...e, proof: fork.inclusion(e.index) })),
        snapshot: { ...body.snapshot, index: fork.size - 1, proof: fork.inclusion(fork.size - 1) },
      };
    };
    const m = /^\/v1\/kt\/users\/([^?]+)/.exec(ex.path);
    if (m) {
      const body = await forked(m[1]);
      return body ? { body } : { status: 404, body: { error: { code: 'not_found', message: 'no such user' } } };
    }
    if (ex.method === 'POST' && ex.path === '/v1/kt/users') {
      const { ids } = ex.request as KtUsersRequest;
      const users = await Promise.all(ids.map(async (userId) => {
        const body = await forked(userId);
        return { userId, user: body && { entries: body.entries, snapshot: body.snapshot } };
      }));
      return { body: { size: fork.size, users } };
    }
    return undefined;
  });
  return forkNote;
}
