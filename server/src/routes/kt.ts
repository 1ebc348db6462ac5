/** The key-transparency log over HTTP. It lists every member of staff, their devices and the
 * changes of secret groups, so only the organisation's devices read it, and the witnesses and
 * auditors the organisation's published policy names, each signed in with its own key
 * (kt/access.ts). A witness needs only checkpoints and consistency proofs, and posts its
 * cosignatures; an auditor reads everything. The policy itself (log key, witness and auditor keys)
 * is public: a device needs it before it has an account. */
import {
  KtCheckpointQuery, KtConsistencyQuery, KtCosignatureRequest, KtEntriesQuery, KtInclusionQuery, KtReaderChallengeRequest,
  KtReaderTokenRequest, KtUserQuery, KtUsersRequest, UserId, type KtUsersResponse, toB64u, GroupId, KtMembershipQuery, type KtMembershipResponse,
  type KtCheckpointResponse, type KtEntriesResponse, type KtPolicyResponse, type KtProofResponse, type KtReaderRole, type KtUserResponse,
} from '@agora/protocol';
import { PolicySchema } from '@agora/protocol/kt';
import type { z } from 'zod';
import { cosignerKey } from '../kt/access.js';
import type { KtLog } from '../kt/log.js';
import { AppError } from '../errors.js';
import { body, idParam, query, reply, requireAdmin, type RouteKit } from './context.js';

/** Who besides devices may read each part of the log. */
const WITNESS_READ: readonly KtReaderRole[] = ['witness', 'auditor'];
const AUDITOR_READ: readonly KtReaderRole[] = ['auditor'];

const b64 = (proof: Uint8Array[]) => proof.map(toB64u);

/** The checkpoint a reader asks for: the latest, one of a given size, or the largest that enough
 * witnesses (any, or only those named) cosigned. */
export async function checkpointAnswer(kt: KtLog, q: z.infer<typeof KtCheckpointQuery>): Promise<KtCheckpointResponse> {
  if ((q.witness === undefined) !== (q.quorum === undefined)) {
    throw new AppError('invalid_field', 'quorum: witness and quorum go together', { field: 'quorum' });
  }
  if (q.witness && q.witness.some((v) => !cosignerKey(v))) {
    throw new AppError('invalid_field', 'witness: not a cosignature/v1 verifier key', { field: 'witness' });
  }
  return q.witness && q.quorum !== undefined ? kt.cosignedCheckpoint(q.quorum, q.witness)
    : q.cosigners !== undefined ? kt.cosignedCheckpoint(q.cosigners)
      : kt.checkpoint(q.size);
}

export function ktRoutes({ router, deps, open, authed, ktRead }: RouteKit): void {
  const { kt, ktAccess } = deps;

  router.get(
    '/v1/kt/policy',
    open(async (ctx) => {
      const answer: KtPolicyResponse = { ...(await kt.policy()), policy: await ktAccess.published() };
      reply(ctx, 200, answer);
    }),
  );

  // The security officer's policy file, published by an administrator: it names who besides the
  // organisation's devices may read the log, and which witnesses may cosign.
  router.post(
    '/v1/kt/policy',
    authed(async (ctx, who) => {
      requireAdmin(who);
      const policy = await body(ctx, PolicySchema);
      await ktAccess.publish(policy, await kt.policy());
      reply(ctx, 200, { published: true });
    }),
  );

  router.post(
    '/v1/kt/auth/challenge',
    open(async (ctx) => {
      const req = await body(ctx, KtReaderChallengeRequest);
      reply(ctx, 200, await ktAccess.challenge(req.role, req.key));
    }),
  );

  router.post(
    '/v1/kt/auth/token',
    open(async (ctx) => {
      const req = await body(ctx, KtReaderTokenRequest);
      reply(ctx, 200, await ktAccess.token(req));
    }),
  );

  router.get(
    '/v1/kt/checkpoint',
    ktRead(WITNESS_READ, async (ctx) => {
      reply(ctx, 200, await checkpointAnswer(kt, query(ctx, KtCheckpointQuery)));
    }),
  );

  router.get(
    '/v1/kt/entries',
    ktRead(AUDITOR_READ, async (ctx) => {
      const q = query(ctx, KtEntriesQuery);
      const rows = await kt.entries(q.start, q.end);
      const answer: KtEntriesResponse = { entries: rows.map((r) => ({ index: r.index, entry: toB64u(r.entry) })) };
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/proof/inclusion',
    ktRead(AUDITOR_READ, async (ctx) => {
      const q = query(ctx, KtInclusionQuery);
      const answer: KtProofResponse = { proof: b64(await kt.inclusionProof(q.index, q.size)) };
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/proof/consistency',
    ktRead(WITNESS_READ, async (ctx) => {
      const q = query(ctx, KtConsistencyQuery);
      const answer: KtProofResponse = { proof: b64(await kt.consistencyProof(q.from, q.to)) };
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/groups/:id/membership',
    ktRead(AUDITOR_READ, async (ctx) => {
      const id = idParam(ctx, 'id', GroupId, 'group');
      const q = query(ctx, KtMembershipQuery);
      const m = await kt.membership(id, q.epoch, q.size);
      const answer: KtMembershipResponse = { index: m.index, entry: toB64u(m.entry), proof: b64(m.proof) };
      reply(ctx, 200, answer);
    }),
  );

  /** A person's entries and snapshot proof at `size`, as the wire carries them; null when the log
   * does not list them at that size. */
  async function userAnswer(id: string, size: number | undefined): Promise<KtUserResponse | null> {
    let v;
    try {
      v = await kt.user(id, size);
    } catch (e) {
      if (e instanceof AppError && e.code === 'not_found') return null;
      throw e;
    }
    return {
      size: v.size,
      entries: v.entries.map((e) => ({ index: e.index, entry: toB64u(e.entry), proof: b64(e.proof) })),
      snapshot: {
        index: v.snapshot.index,
        entry: toB64u(v.snapshot.entry),
        proof: b64(v.snapshot.proof),
        leaf: toB64u(v.snapshot.leaf),
        leafIndex: v.snapshot.leafIndex,
        leafProof: b64(v.snapshot.leafProof),
      },
    };
  }

  router.get(
    '/v1/kt/users/:id',
    ktRead(AUDITOR_READ, async (ctx) => {
      const id = idParam(ctx, 'id', UserId, 'user');
      const q = query(ctx, KtUserQuery);
      const answer = await userAnswer(id, q.size);
      if (!answer) throw new AppError('not_found', 'no such user in the log at that size');
      reply(ctx, 200, answer);
    }),
  );

  // The same for several people at once: an administration list of all staff is checked in a few
  // requests rather than one per person. The size is required, so every answer is at one size.
  router.post(
    '/v1/kt/users',
    ktRead(AUDITOR_READ, async (ctx) => {
      const q = await body(ctx, KtUsersRequest);
      const users: KtUsersResponse['users'] = [];
      for (const userId of q.ids) {
        const answer = await userAnswer(userId, q.size);
        users.push({ userId, user: answer && { entries: answer.entries, snapshot: answer.snapshot } });
      }
      reply(ctx, 200, { size: q.size, users } satisfies KtUsersResponse);
    }),
  );

  router.post(
    '/v1/kt/cosignatures',
    ktRead(['witness'], async (ctx, who) => {
      const req = await body(ctx, KtCosignatureRequest);
      // A witness posts its own cosignatures only, and only a witness the published policy names.
      if (who.kind !== 'witness' || cosignerKey(req.vkey) !== who.reader.key) {
        throw new AppError('forbidden', 'vkey: a witness posts only cosignatures made with its own key', { field: 'vkey' });
      }
      await ktAccess.checkCosigner(req.vkey);
      reply(ctx, 200, await kt.addCosignature(req));
    }),
  );
}
