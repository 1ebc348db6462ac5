/** Verifies what the relay says about one person against a verified checkpoint: every one of their
 * entries is in the log (inclusion proofs), their chain replays (signatures, approvals), and the
 * log's LATEST snapshot — which every change ends with, so it is the checkpoint's last leaf —
 * commits to exactly the key set that replay gives. A key the log does not show, a proof for
 * another leaf, or a hidden revocation (entries left out) all fail here. Pure. */
import type { KtUserResponse } from '../api.js';
import { bytesEqual, fromB64u } from '../encoding.js';
import { ChainError, chainDeviceSetHash, replayUser, type ApproverLookup, type UserChain } from './chain.js';
import { EntryError, decodeEntry, decodeSnapshotLeaf, encodeSnapshotLeaf } from './entries.js';
import { leafHash } from './hash.js';
import { ProofError, verifyInclusion } from './merkle.js';

export class UserProofError extends Error {
  override name = 'UserProofError';
  constructor(readonly code: 'bad_proof' | 'stale_snapshot' | 'snapshot_mismatch' | 'chain', message: string) {
    super(message);
  }
}

export async function verifyUserProof(input: {
  userId: string;
  response: KtUserResponse;
  checkpoint: { size: number; root: Uint8Array };
  approver: ApproverLookup;
}): Promise<UserChain> {
  const { userId, response, checkpoint } = input;
  if (response.size !== checkpoint.size) throw new UserProofError('bad_proof', 'the log answered for another checkpoint than the verified one');
  const entries: { index: number; bytes: Uint8Array }[] = [];
  try {
    for (const e of response.entries) {
      const bytes = fromB64u(e.entry);
      verifyInclusion(leafHash(bytes), e.index, checkpoint.size, e.proof.map(fromB64u), checkpoint.root);
      entries.push({ index: e.index, bytes });
    }
    const snapBytes = fromB64u(response.snapshot.entry);
    verifyInclusion(leafHash(snapBytes), response.snapshot.index, checkpoint.size, response.snapshot.proof.map(fromB64u), checkpoint.root);
    if (response.snapshot.index !== checkpoint.size - 1) {
      throw new UserProofError('stale_snapshot', 'the log proved an older snapshot than its latest: a later key change may be hidden');
    }
    const snapshot = decodeEntry(snapBytes);
    if (snapshot.type !== 'snapshot') throw new UserProofError('stale_snapshot', "the log's last entry is not a snapshot");
    const leafBytes = fromB64u(response.snapshot.leaf);
    verifyInclusion(leafHash(leafBytes), response.snapshot.leafIndex, snapshot.userCount, response.snapshot.leafProof.map(fromB64u), snapshot.snapshotRoot);
    let chain: UserChain;
    try {
      chain = await replayUser(userId, entries, input.approver);
    } catch (e) {
      if (e instanceof ChainError) throw new UserProofError('chain', `this person's log entries do not verify: ${e.message}`);
      throw e;
    }
    const leaf = decodeSnapshotLeaf(leafBytes);
    const expected = encodeSnapshotLeaf({ userId, userSeq: chain.userSeq, userHeadHash: chain.head, deviceSetHash: chainDeviceSetHash(chain) });
    if (leaf.userId !== userId || !bytesEqual(leafBytes, expected)) {
      throw new UserProofError('snapshot_mismatch', "the log's latest snapshot shows other keys for this person than the entries it served: entries were hidden");
    }
    return chain;
  } catch (e) {
    if (e instanceof ProofError || e instanceof EntryError) throw new UserProofError('bad_proof', `the log's answer does not verify: ${e.message}`);
    throw e;
  }
}
