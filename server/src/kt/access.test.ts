/** Who may read the key-transparency log (it names all staff, their devices and every secret
 * group's changes): the organisation's devices, and the witnesses and auditors the published
 * policy names, each signed in with its own key. And whose cosignatures the relay keeps. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import {
  cosign, cosignatureVkey, formatSignatureLine, parseNote, type Policy,
} from '@agora/protocol/kt';
import { ktReaderChallengeMessage, toB64u, type KtCheckpointResponse, type KtPolicyResponse } from '@agora/protocol';
import { call, publishKtPolicy, readerToken, startTestOrg, type TestDevice, type TestOrg } from '../testing.js';

const seed = (n: number) => new Uint8Array(32).fill(n);
const pub = (s: Uint8Array) => toB64u(ed25519.getPublicKey(s));

describe('access to the key-transparency log', () => {
  let org: TestOrg;
  let alice: TestDevice;
  const witnessSeed = seed(11);
  const auditorSeed = seed(12);
  const witness = { name: 'officer-laptop', vkey: cosignatureVkey('officer-laptop', ed25519.getPublicKey(witnessSeed)) };
  const auditor = { name: 'Security officer', signPub: pub(auditorSeed), encPub: toB64u(x25519.getPublicKey(seed(13))) };
  const get = (path: string, token?: string) => call(org.url, 'GET', path, undefined, token ? { token } : {});
  const reads = () => ['/v1/kt/checkpoint', '/v1/kt/entries?start=0&end=5', '/v1/kt/proof/inclusion?index=0&size=2',
    '/v1/kt/proof/consistency?from=1&to=2', `/v1/kt/users/${alice.userId}`];

  beforeAll(async () => {
    org = await startTestOrg();
    alice = await org.person('Alice');
  });
  afterAll(() => org.close());

  it('refuses every read without a credential with 401 and a JSON body; a device token reads everything', async () => {
    for (const path of reads()) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 401]);
      expect(res.body).toMatchObject({ error: { code: 'unauthenticated' } });
      expect([path, (await get(path, alice.token)).status]).toEqual([path, 200]);
    }
    // the policy (log key, witness and auditor keys) stays open: a device needs it before it has an account
    expect((await get('/v1/kt/policy')).status).toBe(200);
  });

  it('admits no witness or auditor before a policy names it', async () => {
    const res = await call(org.url, 'POST', '/v1/kt/auth/challenge', { role: 'auditor', key: auditor.signPub });
    expect(res.status).toBe(403);
    await expect(readerToken(org.url, 'witness', witnessSeed)).rejects.toThrow(/403/);
  });

  it('publishes the policy only by an administrator, validated, for this log', async () => {
    const { origin, vkey } = (await get('/v1/kt/policy')).body as KtPolicyResponse;
    const policy = { log: { origin, vkey }, witnesses: [witness], auditors: [auditor], quorum: 1, maxCheckpointAgeSeconds: 3600 };
    expect((await call(org.url, 'POST', '/v1/kt/policy', policy)).status).toBe(401);
    const notAdmin = await call(org.url, 'POST', '/v1/kt/policy', policy, { token: alice.token });
    expect(notAdmin.status).toBe(403);
    const bad = await call(org.url, 'POST', '/v1/kt/policy', { ...policy, auditors: [{ ...auditor, encPub: 'x' }] }, { token: org.admin.token });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'invalid_field', field: 'auditors.0.encPub' } });
    const foreign = await call(org.url, 'POST', '/v1/kt/policy', { ...policy, log: { origin: 'agora/o_other', vkey } }, { token: org.admin.token });
    expect(foreign.body).toMatchObject({ error: { code: 'invalid_field', field: 'log.origin' } });
    expect((await get('/v1/kt/policy')).body).toMatchObject({ policy: null });

    const ok = await call(org.url, 'POST', '/v1/kt/policy', policy, { token: org.admin.token });
    expect(ok.status).toBe(200);
    const published = (await get('/v1/kt/policy')).body as KtPolicyResponse;
    expect(published.policy).toEqual(policy as Policy);
  });

  it('lets a witness read checkpoints and consistency proofs only, and an auditor everything', async () => {
    const w = await readerToken(org.url, 'witness', witnessSeed);
    const a = await readerToken(org.url, 'auditor', auditorSeed);
    for (const path of reads()) {
      const witnessMay = path.startsWith('/v1/kt/checkpoint') || path.startsWith('/v1/kt/proof/consistency');
      const res = await get(path, w);
      expect([path, res.status]).toEqual([path, witnessMay ? 200 : 403]);
      if (!witnessMay) expect(res.body).toMatchObject({ error: { code: 'forbidden' } });
      expect([path, (await get(path, a)).status]).toEqual([path, 200]);
    }
    // a reader token is no device token: nothing else of the relay opens with it
    expect((await get('/v1/directory', a)).status).toBe(401);
    // and one role's key cannot sign in as the other
    await expect(readerToken(org.url, 'auditor', witnessSeed)).rejects.toThrow(/403/);
  });

  it('refuses forged sign-ins, a challenge used for another key, and tampered tokens', async () => {
    const key = auditor.signPub;
    const ch = (await call<{ challenge: string }>(org.url, 'POST', '/v1/kt/auth/challenge', { role: 'auditor', key })).body.challenge;
    const message = ktReaderChallengeMessage({ role: 'auditor', key, challenge: ch });
    const wrongSigner = toB64u(ed25519.sign(message, seed(99)));
    expect((await call(org.url, 'POST', '/v1/kt/auth/token', { role: 'auditor', key, challenge: ch, signature: wrongSigner })).body)
      .toMatchObject({ error: { code: 'bad_signature' } });
    // the challenge was issued for the auditor's key: the witness cannot use it
    const wKey = pub(witnessSeed);
    const asWitness = toB64u(ed25519.sign(ktReaderChallengeMessage({ role: 'witness', key: wKey, challenge: ch }), witnessSeed));
    expect((await call(org.url, 'POST', '/v1/kt/auth/token', { role: 'witness', key: wKey, challenge: ch, signature: asWitness })).body)
      .toMatchObject({ error: { code: 'challenge_invalid' } });
    const token = await readerToken(org.url, 'auditor', auditorSeed);
    const tampered = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    expect((await get('/v1/kt/entries?start=0&end=1', tampered)).status).toBe(401);
  });

  it('refuses an expired challenge and an expired reader token', async () => {
    let clock = Date.now();
    const timed = await startTestOrg({ now: () => clock });
    try {
      await publishKtPolicy(timed.url, timed.admin, { auditors: [auditor] });
      const key = auditor.signPub;
      const ch = (await call<{ challenge: string }>(timed.url, 'POST', '/v1/kt/auth/challenge', { role: 'auditor', key })).body.challenge;
      const token = await readerToken(timed.url, 'auditor', auditorSeed);
      clock += 16 * 60_000;
      const signature = toB64u(ed25519.sign(ktReaderChallengeMessage({ role: 'auditor', key, challenge: ch }), auditorSeed));
      expect((await call(timed.url, 'POST', '/v1/kt/auth/token', { role: 'auditor', key, challenge: ch, signature })).body)
        .toMatchObject({ error: { code: 'challenge_invalid' } });
      const res = await call(timed.url, 'GET', '/v1/kt/entries?start=0&end=1', undefined, { token });
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ error: { message: 'token expired' } });
    } finally {
      await timed.close();
    }
  });

  it('ends a reader\'s access as soon as the published policy drops its key', async () => {
    const a = await readerToken(org.url, 'auditor', auditorSeed);
    expect((await get('/v1/kt/entries?start=0&end=1', a)).status).toBe(200);
    await publishKtPolicy(org.url, org.admin, { witnesses: [witness], quorum: 1 });
    const res = await get('/v1/kt/entries?start=0&end=1', a);
    expect(res.status).toBe(403);
  });

  it('keeps cosignatures only from a witness of the published policy, posting with its own key', async () => {
    const cp = (await get('/v1/kt/checkpoint', alice.token)).body as KtCheckpointResponse;
    const body = parseNote(cp.checkpoint).text;
    const now = Math.floor(Date.now() / 1000);
    const junkSeed = seed(66);
    const junkVkey = cosignatureVkey('officer-laptop', ed25519.getPublicKey(junkSeed));
    const junk = { checkpoint: cp.checkpoint, cosignature: formatSignatureLine(cosign(body, 'officer-laptop', junkSeed, now)), vkey: junkVkey };
    // anyone without an account, a device, and the named witness posting someone else's key: all refused
    expect((await call(org.url, 'POST', '/v1/kt/cosignatures', junk)).status).toBe(401);
    expect((await call(org.url, 'POST', '/v1/kt/cosignatures', junk, { token: alice.token })).status).toBe(403);
    const w = await readerToken(org.url, 'witness', witnessSeed);
    const res = await call(org.url, 'POST', '/v1/kt/cosignatures', junk, { token: w });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { code: 'forbidden', field: 'vkey' } });
    expect(await org.relay.store.listCosignatures(cp.size)).toEqual([]);
    const own = { checkpoint: cp.checkpoint, cosignature: formatSignatureLine(cosign(body, 'officer-laptop', witnessSeed, now)), vkey: witness.vkey };
    expect((await call(org.url, 'POST', '/v1/kt/cosignatures', own, { token: w })).status).toBe(200);
    expect((await org.relay.store.listCosignatures(cp.size)).map((c) => c.vkey)).toEqual([witness.vkey]);
  });

  it('answers a checkpoint query by witness keys with what those witnesses cosigned, whatever else is stored', async () => {
    const cosigned = await org.relay.store.ktSize();
    expect(await org.relay.store.listCosignatures(cosigned)).toHaveLength(1);
    // Junk the operator wrote straight into the database, for a newer checkpoint.
    await org.person('Bob');
    const newer = await org.relay.store.ktSize();
    for (const n of [1, 2, 3]) {
      await org.relay.store.putCosignature({ size: newer, vkey: cosignatureVkey(`junk${n}`, ed25519.getPublicKey(seed(70 + n))), name: `junk${n}`, line: `— junk${n} AAAA\n`, timestamp: 1 });
    }
    const q = `/v1/kt/checkpoint?quorum=1&witness=${encodeURIComponent(witness.vkey)}`;
    const answer = (await get(q, alice.token)).body as KtCheckpointResponse;
    expect(answer.size).toBe(cosigned);
    expect(answer.cosigners).toEqual(['officer-laptop']);
    expect(answer.checkpoint).not.toContain('junk');
    // the old count-only query is moved by the junk
    expect(((await get('/v1/kt/checkpoint?cosigners=1', alice.token)).body as KtCheckpointResponse).size).toBe(newer);
    expect((await get(`/v1/kt/checkpoint?quorum=2&witness=${encodeURIComponent(witness.vkey)}`, alice.token)).status).toBe(404);
    const malformed = await get('/v1/kt/checkpoint?quorum=1&witness=nonsense', alice.token);
    expect(malformed.body).toMatchObject({ error: { code: 'invalid_field', field: 'witness' } });
    expect((await get(`/v1/kt/checkpoint?witness=${encodeURIComponent(witness.vkey)}`, alice.token)).status).toBe(400);
  });
});
