/** The security officer's audit, run from a browser, or from `agora audit` (or any platform with a
 * `fetch`): sign in to the
 * relay's key-transparency endpoints with the auditor key (which the organisation's published
 * policy must list), download the log up to the newest checkpoint the policy's witnesses cosigned,
 * and replay it with the pure `audit`. The key stays with the caller (in the page's memory); only
 * the challenge signature leaves. The audit code loads on first use, so a web app that never opens
 * the officer's screen never downloads it. */
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';
import * as z from 'zod';
import type { AuditReport, AuditSince } from '@agora/protocol/kt/audit';
import type { AuditorKey } from '@agora/protocol/kt/auditor-key';
import { AgoraError } from './core/errors.js';
import type { FetchLike } from './transport/http.js';
import { readerKtHttp, type KtHttp } from './transport/kt-http.js';
import type { BytesFetch, WebAppAudit } from './transport/web-app.js';
import { auditorOpener } from '@agora/protocol/kt/auditor';
import { KtError } from '@agora/protocol/kt/checkpoint';
import { PolicySchema, type Policy } from '@agora/protocol/kt/policy';
import { fromB64u } from '@agora/protocol/encoding';

export type { AuditReport, AuditSince, AuditorKey, Policy, WebAppAudit };

export interface WitnessView {
  /** The witness's name from the policy. */
  name: string;
  /** Whether the audited checkpoint carries a valid cosignature of it. */
  cosigned: boolean;
}

export interface OfficerAudit {
  report: AuditReport;
  /** 'file': the policy the officer loaded; 'relay': the relay's own word (trust on first use). */
  policySource: 'file' | 'relay';
  quorum: number;
  witnesses: WitnessView[];
  /** The served web app against the log's builds, when asked for; its findings are also among
   * `report.violations`. */
  webApp?: WebAppAudit;
}

function parseJson<S extends z.ZodType>(text: string, schema: S, what: string): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AgoraError('usage', `this is not a ${what} (no JSON)`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new AgoraError('usage', `this is not a valid ${what}: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Reads an auditor key file's text (as `agora audit keygen` writes it). */
export async function parseAuditorKeyFile(text: string): Promise<AuditorKey> {
  const { AuditorKeySchema } = await import('@agora/protocol/kt/auditor-key');
  return parseJson(text, AuditorKeySchema, 'auditor key file');
}

/** Reads a key-transparency policy file's text. */
export async function parsePolicyFile(text: string): Promise<Policy> {
  return parseJson(text, PolicySchema, 'key-transparency policy file');
}

export const AuditSinceSchema = z.object({ size: z.number().int().min(0), root: z.string(), at: z.number() });

/** Without a policy file: the log key the relay names, trusted on first use (no witnesses, no
 * freshness). */
export async function relayPolicy(kt: KtHttp): Promise<Policy> {
  const p = await kt.policy();
  return PolicySchema.parse({ log: { origin: p.origin, vkey: p.vkey }, witnesses: [], quorum: 0, maxCheckpointAgeSeconds: 86_400 });
}

/** Downloads and audits the whole log. Without `policy` the relay's published log key is trusted
 * (no witnesses, no freshness): `onRelayPolicy` hears of it before the download, and
 * `policySource` says so. With `webAppFetch` the web app the relay serves is checked against the
 * log's builds as well. */
export async function runOfficerAudit(input: {
  server: string;
  fetch: FetchLike;
  key: AuditorKey;
  policy?: Policy;
  since?: AuditSince | null;
  now?: number;
  onProgress?: (done: number, total: number) => void;
  onRelayPolicy?: (policy: Policy) => void;
  webAppFetch?: BytesFetch;
}): Promise<OfficerAudit> {
  // The client already carries the transport and the checks; only the replay and the note parser
  // are extra, and load here.
  // The crypto provider too: the replay's hashes and signatures are synchronous calls into it.
  const [{ audit }, { parseCheckpoint, parseNote }] = await Promise.all([
    import('@agora/protocol/kt/audit'), import('@agora/protocol/kt/note'), loadCryptoProvider(),
  ]);
  const kt = readerKtHttp(input.server, input.fetch, 'auditor', fromB64u(input.key.signSeed));
  let policy = input.policy;
  const policySource = policy ? 'file' : 'relay';
  if (!policy) {
    policy = await relayPolicy(kt);
    input.onRelayPolicy?.(policy);
  }
  // With witnesses in the policy, audit the newest checkpoint they cosigned.
  const { checkpoint } = await kt.witnessedCheckpoint(policy);
  const size = parseCheckpoint(parseNote(checkpoint).text).size;
  const entries = await kt.allEntries(size, (done) => input.onProgress?.(done, size));
  const auditor = await auditorOpener(input.key);
  let report: AuditReport;
  try {
    report = await audit({ policy, checkpointNote: checkpoint, entries, since: input.since ?? null, now: input.now ?? Date.now(), auditor });
  } catch (e) {
    if (e instanceof KtError) throw new AgoraError('forbidden', e.message);
    throw e;
  }
  // The audit verified the checkpoint against the policy and names the witnesses whose fresh
  // cosignatures counted (it refuses one below quorum).
  const counted = new Set(report.checkpoint.witnesses);
  const witnesses = policy.witnesses.map((w) => ({ name: w.name, cosigned: counted.has(w.name) }));
  // The served app against the log's WEB_BUILD entries: every file must be the logged build's.
  let webApp: WebAppAudit | undefined;
  if (input.webAppFetch) {
    const { auditWebApp } = await import('./transport/web-app.js');
    webApp = await auditWebApp(input.server, entries, input.webAppFetch);
    for (const f of webApp.findings) report.violations.push({ code: f.code, message: f.message });
  }
  return { report, policySource, quorum: policy.quorum, witnesses, ...(webApp ? { webApp } : {}) };
}
