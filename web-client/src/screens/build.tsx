/** "Diese App": the build hash this page runs, recomputed in the browser from the build's manifest
 * (build-info.ts), for comparing with the key-transparency log and `agora audit`. */
import { formatBuildHash, loadBuildInfo } from '../build-info.js';
import { t } from '../i18n/index.js';
import { useLoad } from './parts.js';

export function BuildInfo() {
  const info = useLoad(() => loadBuildInfo(), []);
  return (
    <section class="scr-card" aria-labelledby="scr-build-title">
      <h2 id="scr-build-title">{t('security.buildTitle')}</h2>
      <p>{t('security.buildExplain')}</p>
      <dl class="scr-facts">
        <dt>{t('security.buildHash')}</dt>
        <dd>
          {info.data ? (
            <code class="scr-hash" data-testid="build-hash" title={info.data.buildHash}>
              {formatBuildHash(info.data.buildHash)}
            </code>
          ) : info.loading ? (
            '…'
          ) : (
            t('security.buildUnknown')
          )}
        </dd>
      </dl>
    </section>
  );
}
