/** The security officer's audit as the web app runs it (client-sdk/src/officer.ts): with the auditor
 * key file's text and, optionally, the policy file's, against a real relay. */
import { nodeFetch } from '@agora/client-sdk/node';
import { auditorPolicyEntry, newAuditorKey } from '@agora/protocol/kt';
import { publishKtPolicy, startTestOrg, type TestOrg } from '../server/src/testing.js';
import { parseAuditorKeyFile, parsePolicyFile, runOfficerAudit } from '../client-sdk/src/officer.js';
import { call } from '../server/src/testing.js';

describe('runOfficerAudit', () => {
  let org: TestOrg;
  const officer = newAuditorKey('Sicherheitsbeauftragte');

  beforeAll(async () => {
    org = await startTestOrg();
    await publishKtPolicy(org.url, org.admin, { auditors: [auditorPolicyEntry(officer)] });
    await org.person('Ben Weber');
  });
  afterAll(() => org.close());

  it('downloads and replays the log with the key file the officer loaded', async () => {
    const key = await parseAuditorKeyFile(JSON.stringify(officer));
    const progress: number[] = [];
    const r = await runOfficerAudit({ server: org.url, fetch: nodeFetch, key, onProgress: (done) => progress.push(done) });
    expect(r.policySource).toBe('relay');
    expect(r.report.violations).toEqual([]);
    expect(r.report.people.map((p) => p.name).sort()).toEqual(['Admin', 'Ben Weber']);
    expect(r.report.entries).toBe(r.report.checkpoint.size);
    expect(progress.at(-1)).toBe(r.report.checkpoint.size);
    expect(r.witnesses).toEqual([]);
    expect(r.quorum).toBe(0);
  });

  it('uses the policy file the officer loaded', async () => {
    const published = (await call<{ origin: string; vkey: string }>(org.url, 'GET', '/v1/kt/policy')).body;
    const policy = await parsePolicyFile(JSON.stringify({
      log: { origin: published.origin, vkey: published.vkey }, witnesses: [], auditors: [auditorPolicyEntry(officer)], quorum: 0, maxCheckpointAgeSeconds: 3600,
    }));
    const r = await runOfficerAudit({ server: org.url, fetch: nodeFetch, key: officer, policy });
    expect(r.policySource).toBe('file');
    expect(r.report.violations).toEqual([]);
  });

  it('is refused by the relay for a key the published policy does not list', async () => {
    await expect(runOfficerAudit({ server: org.url, fetch: nodeFetch, key: newAuditorKey('Fremd') })).rejects.toThrow();
  });

  it('names what is wrong with a file that is not a key or a policy', async () => {
    await expect(parseAuditorKeyFile('not json')).rejects.toMatchObject({ code: 'usage' });
    await expect(parseAuditorKeyFile(JSON.stringify({ format: 'agora-auditor-key-v1', name: 'x', signSeed: 'short', encSecret: 'short' }))).rejects.toThrow(/signSeed/);
    await expect(parsePolicyFile(JSON.stringify({ log: {} }))).rejects.toMatchObject({ code: 'usage' });
  });
});
