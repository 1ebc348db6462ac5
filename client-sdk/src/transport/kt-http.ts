/** The relay's key-transparency endpoints. Reading them needs an employee device's token, or a
 * witness's or auditor's token got by signing a relay challenge with the key the organisation's
 * published policy names (`readerTokens`). Only the policy itself is open to anyone. */
import * as api from '@agora/protocol/api';
import { RelayHttp, type FetchLike } from './http.js';
import { fromB64u, toB64u } from '@agora/protocol/encoding';
import { ktReaderChallengeMessage } from '@agora/protocol/signing';
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';
import type { Policy } from '@agora/protocol/kt/policy';
import { req, witnessSelection, type RelayRequest } from '../engine/requests.js';
import type * as z from 'zod';

/** A bearer-token source for a witness or auditor: signs the relay's challenge with the key's 32-byte
 * Ed25519 seed, and keeps the token until the relay refuses it or it is about to expire. */
export function readerTokens(server: string, fetchImpl: FetchLike, role: api.KtReaderRole, seed: Uint8Array, now: () => number = Date.now): (fresh?: boolean) => Promise<string> {
  const open = new RelayHttp(server, fetchImpl);
  let held: { token: string; expiresAt: number } | undefined;
  return async (fresh) => {
    if (!fresh && held && held.expiresAt - 30_000 > now()) return held.token;
    const crypto = await loadCryptoProvider();
    const key = toB64u(crypto.ed25519PublicKey(seed));
    const { challenge } = await open.request(req.ktReaderChallenge(role, key));
    const signature = toB64u(crypto.ed25519Sign(seed, ktReaderChallengeMessage({ role, key, challenge })));
    held = await open.request(req.ktReaderToken({ role, key, challenge, signature }));
    return held.token;
  };
}

/** A key-transparency client for a witness or auditor signed in with its own key. */
export function readerKtHttp(server: string, fetchImpl: FetchLike, role: api.KtReaderRole, seed: Uint8Array): KtHttp {
  return new KtHttp(new RelayHttp(server, fetchImpl, readerTokens(server, fetchImpl, role, seed)), true);
}

export { witnessQuery, witnessSelection } from '../engine/requests.js';

export class KtHttp {
  /** With `authenticated`, the http client's token (a device's, a witness's or an auditor's) goes
   * along; without, only the open policy endpoint answers. */
  constructor(private readonly http: RelayHttp, private readonly authenticated = false) {}

  private read<S extends z.ZodType>(request: RelayRequest<S>): Promise<z.infer<S>> {
    return this.http.request({ ...request, auth: this.authenticated });
  }

  policy() {
    // open to anyone: a device asks before it has an account
    return this.http.request(req.ktPolicy());
  }
  /** Publishes the organisation's policy file (administrators only). */
  publish(policy: Policy) {
    return this.http.request(req.ktPublishPolicy(policy));
  }
  /** The latest checkpoint, or the largest one that `quorum` of these witnesses (their verifier
   * keys) cosigned, carrying only their cosignatures. */
  checkpoint(select?: { witnesses: string[]; quorum: number }) {
    return this.read(req.ktCheckpoint(select));
  }
  /** What a client whose policy requires witnesses asks for: the newest checkpoint its own witnesses
   * vouch for, which nobody else's cosignature can move. */
  witnessedCheckpoint(policy: Policy) {
    return this.checkpoint(witnessSelection(policy));
  }
  entries(start: number, end: number) {
    return this.read(req.ktEntries(start, end));
  }
  inclusion(index: number, size: number) {
    return this.read(req.ktInclusion(index, size));
  }
  consistency(from: number, to: number) {
    return this.read(req.ktConsistency(from, to));
  }
  user(userId: string, size: number) {
    return this.read(req.ktUser(userId, size));
  }
  /** A secret group's membership entry for `epoch`, proven at `size`. */
  membership(groupId: string, epoch: number, size: number) {
    return this.read(req.ktMembership(groupId, epoch, size));
  }
  cosign(body: api.KtCosignatureRequest) {
    return this.read(req.ktCosign(body));
  }

  /** Every entry of the log below `size`, in order. */
  async allEntries(size: number, onProgress?: (done: number) => void): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    while (out.length < size) {
      const page = await this.entries(out.length, size);
      if (page.entries.length === 0) break;
      for (const e of page.entries) {
        if (e.index !== out.length) throw new Error('the log served entries out of order');
        out.push(fromB64u(e.entry));
      }
      onProgress?.(out.length);
    }
    return out;
  }
}
