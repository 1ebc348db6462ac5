/** Sicherheitsnummer vergleichen: the number two colleagues compare in person, computed by the SDK
 * from both people's keys as the key-transparency log shows them, with a QR code the colleague's
 * phone can scan. Only after comparing does the person mark the colleague as verified; the mark
 * holds until the colleague's keys change. */
import { useState } from 'preact/hooks';
import { useEngine } from '../engine/hooks.js';
import { loadSdk } from '../engine/sdk.js';
import { t } from '../i18n/index.js';
import { pathTo } from '../router.js';
import { ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { verifyPerson, forgetVerified, MEMBERS_PATH } from './members.js';
import { Grouped, useAction, useLoad, VerificationBadge } from './parts.js';
import { QrCode } from './qr.js';
import { canScan, QrScanner } from './scanner.js';
import { loadMarks, setMark, verificationOf } from './verification.js';

export function SafetyNumberScreen({ params }: { params: Record<string, string> }) {
  const { engine, state } = useEngine();
  const { id: groupId, userId } = params;
  const me = state.me?.userId ?? '';
  const [typed, setTyped] = useState('');
  const [scanning, setScanning] = useState(false);
  const [scanned, setScanned] = useState<boolean | undefined>();
  const action = useAction();
  const info = useLoad(async () => {
    const sdk = await loadSdk();
    const run = <T,>(fn: (c: import('../engine/sdk.js').AgoraClient) => Promise<T>) => engine.run(fn);
    const [mine, theirs] = [await verifyPerson(run, me, true), await verifyPerson(run, userId, true)];
    if (!mine || !theirs) return { failed: true as const, name: theirs?.name };
    const { devices } = await engine.run((c) => c.directory());
    const [myKeys, theirKeys] = [await sdk.loggedSigningKeys(mine.devices, devices), await sdk.loggedSigningKeys(theirs.devices, devices)];
    if (!myKeys || !theirKeys) return { failed: true as const, name: theirs.name };
    const marks = await loadMarks(engine);
    const number = sdk.safetyNumber({ userId: me, keys: myKeys }, { userId, keys: theirKeys });
    return { failed: false as const, theirs, number, state: verificationOf(marks[userId], theirs) };
  }, [me, userId]);

  const back = pathTo(MEMBERS_PATH, { id: groupId });
  const d = info.data;
  const name = d?.failed ? (d.name ?? '') : (d?.theirs.name ?? '');
  const typedDigits = typed.replace(/[\s-]/g, '');
  const typedMatch = d && !d.failed && typedDigits.length > 0 ? typedDigits === d.number.digits : undefined;

  async function mark(verified: boolean) {
    if (!d || d.failed) return;
    await action.run(() => setMark(engine, d.theirs, verified));
    forgetVerified(userId);
    info.reload();
  }

  return (
    <section class="scr scr-safety" aria-labelledby="scr-safety-title">
      <ScreenTitle back={back} backLabel={t('safety.back')}>
        <span id="scr-safety-title">{name ? t('safety.titleWith', { name }) : t('safety.title')}</span>
      </ScreenTitle>
      {info.loading && !d && <p role="status">{t('safety.computing')}</p>}
      {info.problem && <ProblemMessage problem={info.problem} />}
      {action.problem && <ProblemMessage problem={action.problem} />}
      {d?.failed && <ProblemMessage problem={{ key: 'safety.unverifiable', params: { name: name || userId } }} />}
      {d && !d.failed && (
        <>
          <VerificationBadge state={d.state} />
          {d.state === 'changed' && <p class="scr-warning" role="alert">{t('safety.changed', { name })}</p>}
          <p>{t('safety.explain', { name })}</p>
          <div class="scr-safety-body">
            <Grouped parts={d.number.groups} label={t('safety.numberLabel')} className="scr-digits" />
            <figure class="scr-qr-figure">
              <QrCode text={d.number.qr} label={t('safety.qrLabel', { name })} />
              <figcaption>{t('safety.qrCaption', { name })}</figcaption>
            </figure>
          </div>
          {canScan() && (
            <div class="scr-scan">
              {!scanning ? (
                <button type="button" class="button" onClick={() => {
                  setScanned(undefined);
                  setScanning(true);
                }}>
                  {t('safety.scan', { name })}
                </button>
              ) : (
                <QrScanner
                  onClose={() => setScanning(false)}
                  onResult={(text) => {
                    setScanning(false);
                    void loadSdk().then((sdk) => setScanned(sdk.matchesSafetyQr(text, d.number)));
                  }}
                />
              )}
              {scanned === true && (
                <p class="scr-ok" role="status">
                  <Icon name="check" /> {t('safety.scanMatch', { name })}
                </p>
              )}
              {scanned === false && (
                <p class="scr-warning" role="alert">
                  {t('safety.typedMismatch', { name })}
                </p>
              )}
            </div>
          )}
          <div class="field">
            <label for="scr-safety-typed">{t('safety.typeLabel')}</label>
            <input id="scr-safety-typed" inputMode="numeric" autocomplete="off" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} aria-describedby="scr-safety-typed-result" />
            <p id="scr-safety-typed-result" role="status" class={typedMatch === false ? 'scr-warning' : 'scr-ok'}>
              {typedMatch === true && (
                <>
                  <Icon name="check" /> {t('safety.typedMatch')}
                </>
              )}
              {typedMatch === false && typedDigits.length >= 60 && t('safety.typedMismatch', { name })}
            </p>
          </div>
          <div class="scr-actions">
            {d.state !== 'verified' ? (
              <button type="button" class="button primary" disabled={action.busy} onClick={() => void mark(true)}>
                {t('safety.markVerified')}
              </button>
            ) : (
              <button type="button" class="button" disabled={action.busy} onClick={() => void mark(false)}>
                {t('safety.unmark')}
              </button>
            )}
          </div>
          <p class="scr-hint">{t('safety.mismatchAdvice', { name })}</p>
        </>
      )}
    </section>
  );
}
