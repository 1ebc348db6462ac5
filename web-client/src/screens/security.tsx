/** Sicherheit: this person's devices (link a new phone by QR, approve, revoke), the key-transparency
 * alarms in plain words with what to do and the decision that lets sending continue, the build the
 * app runs, the state of the key directory as this device sees it, and — for the security officer
 * with the audit key file — the audit report and the witnesses' state. */
import { useState } from 'preact/hooks';
import { useEngine } from '../engine/hooks.js';
import { formatDateTime, t, tn } from '../i18n/index.js';
import { ProblemMessage, ScreenTitle, TechDetails } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { PATHS } from '../paths.js';
import { alarmWords } from './alarm-words.js';
import { applyPolicyFile, ConfirmDialog, Grouped, useAction, useLoad } from './parts.js';
import { QrCode } from './qr.js';
import { OfficerSection } from './officer.js';
import { BuildInfo } from './build.js';

export const SECURITY_PATH = PATHS.security;

/** The invite URL a new phone opens: the code in the fragment never reaches the relay's logs. */
export function inviteUrl(code: string): string {
  return `${location.origin}/einladung#${code}`;
}

/** "ABCD-EFGH-…" style groups of four for reading a code aloud or typing it. */
export function codeGroups(code: string): string[] {
  const parts = code.split('-').filter(Boolean);
  return parts.length > 1 ? parts : (code.match(/.{1,4}/g) ?? [code]);
}

export function SecurityScreen() {
  return (
    <section class="scr" aria-labelledby="scr-security-title">
      <ScreenTitle>
        <span id="scr-security-title">{t('security.title')}</span>
      </ScreenTitle>
      <AlarmsSection />
      <DevicesSection />
      <DirectorySection />
      <BuildInfo />
      <OfficerSection />
    </section>
  );
}

function AlarmsSection() {
  const { engine, state } = useEngine();
  const [deciding, setDeciding] = useState(false);
  const action = useAction();
  const alarms = state.alarms;

  async function acknowledge() {
    await action.run(async () => {
      await engine.run((c) => c.alarms({ clear: true }));
      await engine.refreshAlarms();
    });
    setDeciding(false);
  }

  return (
    <section class="scr-card" aria-labelledby="scr-alarms-title">
      <h2 id="scr-alarms-title">{t('security.alarmsTitle')}</h2>
      {alarms.length === 0 ? (
        <p class="scr-ok">
          <Icon name="check" /> {t('security.noAlarms')}
        </p>
      ) : (
        <>
          <p class="scr-warning" role="alert">
            <Icon name="alert" /> {tn('security.alarmsBlock', alarms.length)}
          </p>
          <ul class="scr-alarms">
            {alarms.map((a) => {
              const words = alarmWords(a.kind);
              const name = a.subject?.name;
              return (
                <li key={a.id} class="scr-alarm">
                  <p class="scr-alarm-what">
                    <Icon name="alert" /> {name ? t(words.what === 'alarm.keySubstitution' ? 'alarm.keySubstitutionOf' : words.what, { name }) : t(words.what)}
                  </p>
                  <p>{name && words.todo === 'alarm.todo.compare' ? t('alarm.todo.compareWith', { name }) : t(words.todo)}</p>
                  <p class="scr-meta">{formatDateTime(a.at)}</p>
                  <TechDetails>
                    [{a.kind}] {a.message}
                  </TechDetails>
                </li>
              );
            })}
          </ul>
          {action.problem && <ProblemMessage problem={action.problem} />}
          <button type="button" class="button primary" onClick={() => setDeciding(true)}>
            {t('security.acknowledge')}
          </button>
        </>
      )}
      {deciding && (
        <ConfirmDialog title={t('security.acknowledgeTitle')} confirmLabel={t('security.acknowledgeConfirm')} busy={action.busy} onCancel={() => setDeciding(false)} onConfirm={() => void acknowledge()}>
          <p>{t('security.acknowledgeWhat')}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function DevicesSection() {
  const { engine, state } = useEngine();
  const devices = useLoad(() => engine.run((c) => c.listOwnDevices()), []);
  const [link, setLink] = useState<{ code: string; expiresAt: number } | undefined>();
  const [revoking, setRevoking] = useState<string | undefined>();
  const action = useAction();
  const mine = state.me?.deviceId;

  async function linkDevice() {
    const inv = await action.run(() => engine.run((c) => c.linkDevice()));
    if (inv) setLink(inv);
  }
  async function approve(deviceId: string) {
    const ok = await action.run(async () => {
      await engine.run((c) => c.approveDevice(deviceId));
      return true;
    });
    if (ok) devices.reload();
  }
  async function revoke(deviceId: string) {
    const ok = await action.run(async () => {
      await engine.run((c) => c.revokeDevice(deviceId));
      return true;
    });
    setRevoking(undefined);
    if (ok) devices.reload();
  }

  const list = [...(devices.data ?? [])].sort((a, b) => Number(b.deviceId === mine) - Number(a.deviceId === mine) || Number(b.active) - Number(a.active) || b.addedAt - a.addedAt);
  return (
    <section class="scr-card" aria-labelledby="scr-devices-title">
      <h2 id="scr-devices-title">{t('security.devicesTitle')}</h2>
      {devices.problem && <ProblemMessage problem={devices.problem} />}
      {action.problem && <ProblemMessage problem={action.problem} />}
      {devices.loading && !devices.data && <p role="status">{t('security.devicesLoading')}</p>}
      <ul class="scr-list" aria-label={t('security.devicesTitle')}>
        {list.map((d) => (
          <li key={d.deviceId} class="scr-row">
            <span class="scr-row-main">
              <span class="scr-name">
                {d.deviceId === mine ? t('security.thisDevice') : t('security.otherDevice', { date: formatDateTime(d.addedAt) })}
                {!d.active && <span class="scr-tag">{t('security.revoked')}</span>}
                {d.active && !d.vouched && <span class="scr-tag scr-tag-warn">{t('security.notApproved')}</span>}
              </span>
              <span class="scr-meta">
                {t('security.deviceKey')} <code>{d.fingerprint}</code> · {t('security.addedAt', { date: formatDateTime(d.addedAt) })}
              </span>
            </span>
            {d.active && d.deviceId !== mine && (
              <span class="scr-row-actions">
                {!d.vouched && (
                  <button type="button" class="button primary" disabled={action.busy} onClick={() => void approve(d.deviceId)}>
                    {t('security.approve')}
                  </button>
                )}
                <button type="button" class="button scr-danger-text" disabled={action.busy} onClick={() => setRevoking(d.deviceId)}>
                  {t('security.revoke')}
                </button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {list.some((d) => d.active && !d.vouched && d.deviceId !== mine) && <p class="scr-hint">{t('security.approveHint')}</p>}
      {!link ? (
        <button type="button" class="button primary" disabled={action.busy} onClick={() => void linkDevice()}>
          {t('security.linkDevice')}
        </button>
      ) : (
        <div class="scr-invite" aria-live="polite">
          <h3>{t('security.linkTitle')}</h3>
          <p>{t('security.linkExplain')}</p>
          <QrCode text={inviteUrl(link.code)} label={t('security.linkQr')} className="scr-qr" />
          <Grouped parts={codeGroups(link.code)} label={t('common.inviteCode')} className="scr-code" />
          <p class="scr-meta">{t('security.linkExpires', { date: formatDateTime(link.expiresAt) })}</p>
          <button type="button" class="button" onClick={() => {
            setLink(undefined);
            devices.reload();
          }}>
            {t('security.linkDone')}
          </button>
        </div>
      )}
      {revoking && (
        <ConfirmDialog
          title={t('security.revokeTitle')}
          confirmLabel={t('security.revokeConfirm')}
          danger
          busy={action.busy}
          onCancel={() => setRevoking(undefined)}
          onConfirm={() => void revoke(revoking)}
        >
          <p>{t('security.revokeWhat')}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

function DirectorySection() {
  const { engine, state } = useEngine();
  const me = state.me?.userId ?? '';
  const info = useLoad(() => engine.run((c) => c.verifyUser(me)), [me]);
  const action = useAction();
  const [policySet, setPolicySet] = useState<number | undefined>();

  async function applyPolicy(input: HTMLInputElement) {
    setPolicySet(undefined);
    const p = await applyPolicyFile(input, action, (policy) => engine.run((c) => c.setPolicy(policy)));
    if (p) {
      setPolicySet(p.witnesses.length);
      info.reload();
    }
  }

  return (
    <section class="scr-card" aria-labelledby="scr-directory-title">
      <h2 id="scr-directory-title">{t('security.directoryTitle')}</h2>
      <p>{t('security.directoryExplain')}</p>
      {info.problem && <ProblemMessage problem={info.problem} />}
      {info.data && (
        <dl class="scr-facts">
          <dt>{t('security.checkpointSize')}</dt>
          <dd>{tn('security.entries', info.data.checkpointSize)}</dd>
          <dt>{t('security.witnessQuorum')}</dt>
          <dd>{info.data.quorum > 0 ? tn('security.quorumOf', info.data.quorum) : t('security.noWitnesses')}</dd>
        </dl>
      )}
      <div class="field">
        <label for="scr-device-policy">{t('security.devicePolicy')}</label>
        <input id="scr-device-policy" type="file" accept=".json,application/json" aria-describedby="scr-device-policy-hint" disabled={action.busy} onChange={(e) => void applyPolicy(e.currentTarget)} />
        <p class="hint" id="scr-device-policy-hint">
          {t('security.devicePolicyHint')}
        </p>
      </div>
      {action.problem && <ProblemMessage problem={action.problem} />}
      {policySet !== undefined && (
        <p class="scr-ok" role="status">
          <Icon name="check" /> {tn('security.devicePolicySet', policySet)}
        </p>
      )}
    </section>
  );
}
