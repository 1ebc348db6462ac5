/** The relay's key-transparency endpoints. Reading them needs an employee device's token, or a
 * witness's or auditor's token got by signing a relay challenge with the key the organisation's
 * published policy names (`readerTokens`). Only the policy itself is open to anyone. */
import { ed25519 } from '@noble/curves/ed25519.js';
import * as api from '../protocol/api.js';
import { RelayHttp, type FetchLike } from './http.js';
import { fromB64u, toB64u } from '../protocol/encoding.js';
import { ktReaderChallengeMessage } from '../protocol/signing.js';
import type { Policy } from '../kt/policy.js';

/** A bearer-token source for a witness or auditor: signs the relay's challenge with the key's 32-byte
 * Ed25519 seed, and keeps the token until the relay refuses it or it is about to expire. */
export function readerTokens(server: string, fetchImpl: FetchLike, role: api.KtReaderRole, seed: Uint8Array, now: () => number = Date.now): (fresh?: boolean) => Promise<string> {
  const open = new RelayHttp(server, fetchImpl);
  const key = toB64u(ed25519.getPublicKey(seed));
  let held: { token: string; expiresAt: number } | undefined;
  return async (fresh) => {
    if (!fresh && held && held.expiresAt - 30_000 > now()) return held.token;
    const { challenge } = await open.call('POST', '/v1/kt/auth/challenge', api.KtReaderChallengeResponse, { role, key }, false);
    const signature = toB64u(ed25519.sign(ktReaderChallengeMessage({ role, key, challenge }), seed));
    held = await open.call('POST', '/v1/kt/auth/token', api.TokenResponse, { role, key, challenge, signature }, false);
    return held.token;
  };
}

/** A key-transparency client for a witness or auditor signed in with its own key. */
export function readerKtHttp(server: string, fetchImpl: FetchLike, role: api.KtReaderRole, seed: Uint8Array): KtHttp {
  return new KtHttp(new RelayHttp(server, fetchImpl, readerTokens(server, fetchImpl, role, seed)), true);
}

/** The checkpoint a device asks for under its policy: the newest its own witnesses vouch for (a
 * quorum of them), or the latest when the policy names none. */
export function witnessSelection(policy: Policy): { witnesses: string[]; quorum: number } | undefined {
  return policy.quorum > 0 ? { witnesses: policy.witnesses.map((w) => w.vkey), quorum: policy.quorum } : undefined;
}

/** The query string that asks for that checkpoint, '' or starting with '&'. */
export function witnessQuery(select: { witnesses: string[]; quorum: number } | undefined): string {
  return select ? `&quorum=${select.quorum}${select.witnesses.map((w) => `&witness=${encodeURIComponent(w)}`).join('')}` : '';
}

export class KtHttp {
  /** With `authenticated`, the http client's token (a device's, a witness's or an auditor's) goes
   * along; without, only the open policy endpoint answers. */
  constructor(private readonly http: RelayHttp, private readonly authenticated = false) {}

  policy() {
    // open to anyone: a device asks before it has an account
    return this.http.call('GET', '/v1/kt/policy', api.KtPolicyResponse, undefined, false);
  }
  /** Publishes the organisation's policy file (administrators only). */
  publish(policy: Policy) {
    return this.http.call('POST', '/v1/kt/policy', api.KtPublishPolicyResponse, policy, true);
  }
  /** The latest checkpoint, or the largest one that `quorum` of these witnesses (their verifier
   * keys) cosigned, carrying only their cosignatures. */
  checkpoint(select?: { witnesses: string[]; quorum: number }) {
    const q = witnessQuery(select).replace(/^&/, '?');
    return this.http.call('GET', `/v1/kt/checkpoint${q}`, api.KtCheckpointResponse, undefined, this.authenticated);
  }
  /** What a client whose policy requires witnesses asks for: the newest checkpoint its own witnesses
   * vouch for, which nobody else's cosignature can move. */
  witnessedCheckpoint(policy: Policy) {
    return this.checkpoint(witnessSelection(policy));
  }
  entries(start: number, end: number) {
    return this.http.call('GET', `/v1/kt/entries?start=${start}&end=${end}`, api.KtEntriesResponse, undefined, this.authenticated);
  }
  inclusion(index: number, size: number) {
    return this.http.call('GET', `/v1/kt/proof/inclusion?index=${index}&size=${size}`, api.KtProofResponse, undefined, this.authenticated);
  }
  consistency(from: number, to: number) {
    return this.http.call('GET', `/v1/kt/proof/consistency?from=${from}&to=${to}`, api.KtProofResponse, undefined, this.authenticated);
  }
  user(userId: string, size: number) {
    return this.http.call('GET', `/v1/kt/users/${encodeURIComponent(userId)}?size=${size}`, api.KtUserResponse, undefined, this.authenticated);
  }
  /** A secret group's membership entry for `epoch`, proven at `size`. */
  membership(groupId: string, epoch: number, size: number) {
    return this.http.call('GET', `/v1/kt/groups/${encodeURIComponent(groupId)}/membership?epoch=${epoch}&size=${size}`, api.KtMembershipResponse, undefined, this.authenticated);
  }
  cosign(body: api.KtCosignatureRequest) {
    return this.http.call('POST', '/v1/kt/cosignatures', api.KtCosignatureResponse, body, this.authenticated);
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
