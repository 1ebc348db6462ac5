/** The key-transparency log over HTTP. Open to anyone, because witnesses and the security
 * officer's audit run without an account and the log holds no content: public keys, device and
 * group ids, names and roles, which every member of the organisation sees in the directory anyway. */
import {
  KtCheckpointQuery, KtConsistencyQuery, KtCosignatureRequest, KtEntriesQuery, KtInclusionQuery, KtUserQuery, UserId, toB64u,
  type KtCheckpointResponse, type KtEntriesResponse, type KtPolicyResponse, type KtProofResponse, type KtUserResponse,
} from '@agora/client-sdk/protocol';
import { body, idParam, query, reply, type RouteKit } from './context.js';

const b64 = (proof: Uint8Array[]) => proof.map(toB64u);

export function ktRoutes({ router, deps, open, publicRead }: RouteKit): void {
  const { kt } = deps;

  router.get(
    '/v1/kt/policy',
    publicRead(async (ctx) => {
      const answer: KtPolicyResponse = await kt.policy();
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/checkpoint',
    publicRead(async (ctx) => {
      const q = query(ctx, KtCheckpointQuery);
      const answer: KtCheckpointResponse = q.cosigners !== undefined ? await kt.cosignedCheckpoint(q.cosigners) : await kt.checkpoint(q.size);
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/entries',
    publicRead(async (ctx) => {
      const q = query(ctx, KtEntriesQuery);
      const rows = await kt.entries(q.start, q.end);
      const answer: KtEntriesResponse = { entries: rows.map((r) => ({ index: r.index, entry: toB64u(r.entry) })) };
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/proof/inclusion',
    publicRead(async (ctx) => {
      const q = query(ctx, KtInclusionQuery);
      const answer: KtProofResponse = { proof: b64(await kt.inclusionProof(q.index, q.size)) };
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/proof/consistency',
    publicRead(async (ctx) => {
      const q = query(ctx, KtConsistencyQuery);
      const answer: KtProofResponse = { proof: b64(await kt.consistencyProof(q.from, q.to)) };
      reply(ctx, 200, answer);
    }),
  );

  router.get(
    '/v1/kt/users/:id',
    publicRead(async (ctx) => {
      const id = idParam(ctx, 'id', UserId, 'user');
      const q = query(ctx, KtUserQuery);
      const v = await kt.user(id, q.size);
      const answer: KtUserResponse = {
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
      reply(ctx, 200, answer);
    }),
  );

  router.post(
    '/v1/kt/cosignatures',
    open(async (ctx) => {
      const req = await body(ctx, KtCosignatureRequest);
      reply(ctx, 200, await kt.addCosignature(req));
    }),
  );
}
