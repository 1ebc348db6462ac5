/** The newcomer's hint: a new device cannot read the public groups until a colleague's device, once
 * online, has handed it the organisation key (it does so by itself). Said in plain words while that
 * is so, and gone by itself when the key arrives. */
import { t } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import { Icon } from '../ui/icons.js';

export function OrgKeyHint() {
  const { state } = useEngine();
  if (!state.orgKeyWaiting) return null;
  return (
    <section class="org-key-hint" role="status" aria-labelledby="org-key-hint-title">
      <Icon name="globe" />
      <div>
        <h2 id="org-key-hint-title">{t('orgKey.waitingTitle')}</h2>
        <p>{t('orgKey.waiting')}</p>
      </div>
    </section>
  );
}
