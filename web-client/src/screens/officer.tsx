/** For the security officer: the audit report and the witnesses' state, from this browser. The audit
 * key file is read into the page's memory only (never stored, never sent: only a signature over the
 * relay's challenge leaves), and dropped when the screen closes or the officer says so. */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { loadSdk, type Sdk } from '../engine/sdk.js';
import { formatDateTime, t, tn, type MessageKey } from '../i18n/index.js';
import { screenWords } from './words.js';
import { ProblemMessage, TechDetails } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { roleWord, statusWord, takeChosenFile, useAction, useLoad, type Policy } from './parts.js';
import { readValue, writeValue } from './values.js';
import { useEngine } from '../engine/hooks.js';

type AuditorKey = Awaited<ReturnType<Sdk['parseAuditorKeyFile']>>;
type OfficerAudit = Awaited<ReturnType<Sdk['runOfficerAudit']>>;

const SINCE_KEY = 'audit-since';
const LOG_INTEGRITY = new Set(['rollback', 'history_rewritten', 'root_mismatch']);

export function OfficerSection() {
  const { engine } = useEngine();
  const since = useLoad(async () => {
    const raw = await readValue(engine, SINCE_KEY);
    if (!raw) return null;
    const parsed = (await loadSdk()).AuditSinceSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  }, []);
  const [useSince, setUseSince] = useState(true);
  const [key, setKey] = useState<AuditorKey | undefined>();
  const [policy, setPolicy] = useState<Policy | undefined>();
  const [progress, setProgress] = useState<{ done: number; total: number } | undefined>();
  const [result, setResult] = useState<OfficerAudit | undefined>();
  const action = useAction();

  async function loadKey(input: HTMLInputElement) {
    // The input keeps no copy: the key lives only in this component's state.
    const text = await takeChosenFile(input);
    if (text === undefined) return;
    const k = await action.run(async () => (await loadSdk()).parseAuditorKeyFile(text));
    if (k) setKey(k);
  }
  async function loadPolicy(input: HTMLInputElement) {
    const text = await takeChosenFile(input);
    if (text === undefined) return;
    const p = await action.run(async () => (await loadSdk()).parsePolicyFile(text));
    if (p) setPolicy(p);
  }
  async function runAudit() {
    if (!key) return;
    setResult(undefined);
    const r = await action.run(async () => {
      const sdk = await loadSdk();
      const audit = await sdk.runOfficerAudit({
        server: location.origin,
        fetch: (url, init) => fetch(url, init),
        key,
        policy,
        since: useSince ? since.data : null,
        onProgress: (done, total) => setProgress({ done, total }),
      });
      // The next audit on this device compares with this one, unless this one found the log itself
      // rolled back or rewritten: that evidence must not become the new starting point.
      if (!audit.report.violations.some((v) => LOG_INTEGRITY.has(v.code))) await writeValue(engine, SINCE_KEY, JSON.stringify(audit.report.next));
      return audit;
    });
    setProgress(undefined);
    if (r) {
      setResult(r);
      since.reload();
    }
  }

  return (
    <section class="scr-card" aria-labelledby="scr-officer-title">
      <h2 id="scr-officer-title">{t('officer.title')}</h2>
      <p>{t('officer.explain')}</p>
      <div class="field">
        <label for="scr-officer-key">{t('officer.keyFile')}</label>
        <input id="scr-officer-key" type="file" accept=".json,application/json" aria-describedby="scr-officer-key-hint" onChange={(e) => void loadKey(e.currentTarget)} />
        <p class="hint" id="scr-officer-key-hint">
          {key ? t('officer.keyLoaded', { name: key.name }) : t('officer.keyHint')}
        </p>
      </div>
      <div class="field">
        <label for="scr-officer-policy">{t('officer.policyFile')}</label>
        <input id="scr-officer-policy" type="file" accept=".json,application/json" aria-describedby="scr-officer-policy-hint" onChange={(e) => void loadPolicy(e.currentTarget)} />
        <p class="hint" id="scr-officer-policy-hint">
          {policy ? tn('officer.policyLoaded', policy.witnesses.length) : t('officer.policyHint')}
        </p>
      </div>
      {since.data && (
        <label class="scr-check">
          <input type="checkbox" checked={useSince} onChange={(e) => setUseSince(e.currentTarget.checked)} /> {tn('officer.useSince', since.data.size, { date: formatDateTime(since.data.at) })}
        </label>
      )}
      {action.problem && <ProblemMessage problem={action.problem} />}
      <div class="scr-actions">
        <button type="button" class="button primary" disabled={!key || action.busy} onClick={() => void runAudit()}>
          {t('officer.run')}
        </button>
        {key && (
          <button type="button" class="button" onClick={() => {
            setKey(undefined);
            setResult(undefined);
          }}>
            {t('officer.forgetKey')}
          </button>
        )}
      </div>
      {progress && (
        <p role="status">
          {t('officer.progress', { done: progress.done, total: progress.total })}
          <progress max={progress.total} value={progress.done} />
        </p>
      )}
      {result && <AuditReportView audit={result} />}
    </section>
  );
}

function findingWords(code: string): string {
  const key = `finding.${code}`;
  return key in screenWords ? t(key as MessageKey) : t('finding.other');
}

function AuditReportView({ audit }: { audit: OfficerAudit }) {
  const r = audit.report;
  const counted = audit.witnesses.filter((w) => w.cosigned).length;
  return (
    <article class="scr-report" aria-labelledby="scr-report-title">
      <h3 id="scr-report-title">{t('officer.reportTitle')}</h3>
      {r.violations.length === 0 ? (
        <p class="scr-ok" role="status">
          <Icon name="check" /> {t('officer.noViolations')}
        </p>
      ) : (
        <div class="scr-warning" role="alert">
          <p>
            <Icon name="alert" /> {tn('officer.violations', r.violations.length)}
          </p>
          <ul>
            {r.violations.map((v, i) => (
              <li key={i}>
                {findingWords(v.code)}
                {v.index !== undefined && ` (${t('officer.entry', { n: v.index })})`}
                <TechDetails>
                  [{v.code}] {v.message}
                </TechDetails>
              </li>
            ))}
          </ul>
        </div>
      )}
      {audit.policySource === 'relay' && <p class="scr-warning">{t('officer.relayPolicy')}</p>}
      <dl class="scr-facts">
        <dt>{t('security.checkpointSize')}</dt>
        <dd>{tn('security.entries', r.checkpoint.size)}</dd>
        <dt>{t('officer.witnesses')}</dt>
        <dd>
          {audit.witnesses.length === 0
            ? t('security.noWitnesses')
            : t('officer.witnessCount', { counted, total: audit.witnesses.length, quorum: audit.quorum })}
        </dd>
        <dt>{t('officer.since')}</dt>
        <dd>{r.since ? formatDateTime(r.since.at) : t('officer.firstAudit')}</dd>
      </dl>
      {audit.witnesses.length > 0 && (
        <ul class="scr-list" aria-label={t('officer.witnesses')}>
          {audit.witnesses.map((w) => (
            <li key={w.name} class="scr-row">
              <span class="scr-row-main">
                <span class="scr-name">{w.name}</span>
              </span>
              <span class={w.cosigned ? 'scr-badge scr-badge-verified' : 'scr-badge scr-badge-changed'}>
                <Icon name={w.cosigned ? 'check' : 'alert'} />
                {w.cosigned ? t('officer.cosigned') : t('officer.notCosigned')}
              </span>
            </li>
          ))}
        </ul>
      )}
      <ChangesTable
        title="officer.deviceChanges"
        none="officer.noDeviceChanges"
        columns={['officer.col.when', 'officer.col.person', 'officer.col.change', 'officer.col.by', 'officer.col.key']}
        rows={r.deviceChanges}
        cells={(c) => [
          formatDateTime(c.at),
          c.name,
          t(c.change === 'added' ? 'officer.change.added' : c.change === 'revoked' ? 'officer.change.revoked' : 'officer.change.approved'),
          c.approvedBy ? c.approvedBy.name : c.change === 'added' ? t('officer.bootstrap') : '',
          <code>{c.fingerprint ?? ''}</code>,
        ]}
      />
      <ChangesTable
        title="officer.roleChanges"
        none="officer.noRoleChanges"
        columns={['officer.col.when', 'officer.col.person', 'officer.col.roleChange', 'officer.col.by']}
        rows={r.roleChanges}
        cells={(c) => [formatDateTime(c.at), c.name, t('officer.roleChange', { from: roleWord(c.from), to: roleWord(c.to) }), c.approvedBy.name ?? c.approvedBy.deviceId]}
      />
      <h4>{t('officer.people')}</h4>
      <ul class="scr-plain">
        {r.people.map((p) => (
          <li key={p.userId}>{tn('officer.person', p.activeDevices, { name: p.name, role: roleWord(p.role), status: statusWord(p.status) })}</li>
        ))}
      </ul>
      <h4>{t('officer.groups')}</h4>
      {r.groups.length === 0 && <p>{t('officer.noGroups')}</p>}
      {r.groups.map((g) => (
        <details key={g.groupId} class="scr-group-history">
          <summary>
            <code>{g.groupId}</code> · {tn('officer.changes', g.history.length)}
          </summary>
          <ul class="scr-plain">
            {g.history.map((h) => (
              <li key={h.index}>
                {formatDateTime(h.at)} · {t('officer.epoch', { n: h.epoch })} · {h.committer.name ?? h.committer.deviceId}:{' '}
                {h.members ? [...new Set(h.members.map((m) => m.name ?? m.deviceId))].join(', ') : t('officer.sealed')}
              </li>
            ))}
          </ul>
        </details>
      ))}
      {r.sealed.changes > 0 && <p>{tn('officer.sealedCount', r.sealed.changes, { groups: tn('officer.sealedGroups', r.sealed.groups) })}</p>}
      {r.notes.map((n, i) => (
        <p key={i} class="scr-meta">
          {n}
        </p>
      ))}
    </article>
  );
}

/** One list of log changes in the report (devices, roles): a heading, then either a sentence saying
 * there were none or a table with one row per log entry, keyed by the entry's index. */
function ChangesTable<C extends { index: number }>(props: {
  title: MessageKey;
  none: MessageKey;
  columns: MessageKey[];
  rows: readonly C[];
  cells: (change: C) => ComponentChildren[];
}) {
  return (
    <>
      <h4>{t(props.title)}</h4>
      {props.rows.length === 0 ? (
        <p>{t(props.none)}</p>
      ) : (
        <div class="scr-table-wrap">
          <table class="scr-table">
            <thead>
              <tr>
                {props.columns.map((c) => (
                  <th key={c} scope="col">
                    {t(c)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {props.rows.map((c) => (
                <tr key={c.index}>
                  {props.cells(c).map((cell, i) => (
                    <td key={i}>{cell}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
