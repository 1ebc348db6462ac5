/** The relay's public key-transparency endpoints. They need no account: witnesses and the
 * security officer's audit read the log without being employees' devices. */
import * as api from '../protocol/api.js';
import type { RelayHttp } from './http.js';
import { fromB64u } from '../protocol/encoding.js';

export class KtHttp {
  constructor(private readonly http: RelayHttp) {}

  policy() {
    return this.http.call('GET', '/v1/kt/policy', api.KtPolicyResponse, undefined, false);
  }
  /** The latest checkpoint, or with `cosigners` the largest one that many witnesses cosigned. */
  checkpoint(cosigners?: number) {
    const q = cosigners ? `?cosigners=${cosigners}` : '';
    return this.http.call('GET', `/v1/kt/checkpoint${q}`, api.KtCheckpointResponse, undefined, false);
  }
  entries(start: number, end: number) {
    return this.http.call('GET', `/v1/kt/entries?start=${start}&end=${end}`, api.KtEntriesResponse, undefined, false);
  }
  inclusion(index: number, size: number) {
    return this.http.call('GET', `/v1/kt/proof/inclusion?index=${index}&size=${size}`, api.KtProofResponse, undefined, false);
  }
  consistency(from: number, to: number) {
    return this.http.call('GET', `/v1/kt/proof/consistency?from=${from}&to=${to}`, api.KtProofResponse, undefined, false);
  }
  user(userId: string, size: number) {
    return this.http.call('GET', `/v1/kt/users/${encodeURIComponent(userId)}?size=${size}`, api.KtUserResponse, undefined, false);
  }
  cosign(body: api.KtCosignatureRequest) {
    return this.http.call('POST', '/v1/kt/cosignatures', api.KtCosignatureResponse, body, false);
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
