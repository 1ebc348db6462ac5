/** The relay's public key-transparency endpoints. They need no account: witnesses and the
 * security officer's audit read the log without being employees' devices. */
import * as api from '../protocol/api.js';
import type { RelayHttp } from './http.js';
import { fromB64u } from '../protocol/encoding.js';

export class KtHttp {
  /** With `authenticated`, a device's token goes along so the relay counts its requests against the
   * device's own rate limit rather than its network address's. */
  constructor(private readonly http: RelayHttp, private readonly authenticated = false) {}

  policy() {
    return this.http.call('GET', '/v1/kt/policy', api.KtPolicyResponse, undefined, this.authenticated);
  }
  /** The latest checkpoint, or with `cosigners` the largest one that many witnesses cosigned. */
  checkpoint(cosigners?: number) {
    const q = cosigners ? `?cosigners=${cosigners}` : '';
    return this.http.call('GET', `/v1/kt/checkpoint${q}`, api.KtCheckpointResponse, undefined, this.authenticated);
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
