/** The shell around every screen of an unlocked app: a top bar with the person's menu (avatar), the
 * banners that concern the whole app (key alarm, no network, storage), the main navigation — a
 * bottom tab bar on phones, a left sidebar from 900 px — the screen, and on wide screens a right
 * pane for details. The navigation is one element styled two ways, so it has one accessible name. */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { currentLang, setLang, t, tn } from '../i18n/index.js';
import { useEngine } from '../engine/hooks.js';
import { Link, useLocation } from '../router.js';
import { PATHS } from '../paths.js';
import { routes, type Section } from '../routes.js';
import { Icon } from './icons.js';
import { initials, ProblemMessage } from './common.js';
import { SearchIndexer } from '../screens/search.js';

function Banners() {
  const { engine, state } = useEngine();
  // On the security screen the warnings are right there: a link to it would go nowhere.
  const onSecurity = useLocation().path === PATHS.security;
  return (
    <div class="banners">
      {state.alarms.length > 0 && (
        <div class="banner alarm" role="alert">
          <Icon name="alert" />
          <p>
            <strong>{t('alarm.bannerTitle')}</strong> {tn('alarm.banner', state.alarms.length)}
          </p>
          {!onSecurity && (
            <Link href={PATHS.security} class="button">
              {t('alarm.open')}
            </Link>
          )}
        </div>
      )}
      {state.connection === 'offline' && (
        <div class="banner offline" role="status">
          <Icon name="offline" />
          <p>{state.waiting > 0 ? t('problem.offlineSend') : t('banner.offline')}</p>
        </div>
      )}
      {state.updateReady && (
        <div class="banner info" role="status">
          <p>{t('banner.update')}</p>
          <button type="button" class="button small" onClick={() => void engine.update()}>
            {t('banner.updateNow')}
          </button>
        </div>
      )}
      {state.banner && (
        <div class="banner warn">
          <ProblemMessage problem={state.banner} />
          <button type="button" class="button small" onClick={() => engine.dismissBanner()}>
            {t('common.close')}
          </button>
        </div>
      )}
    </div>
  );
}

function AvatarMenu() {
  const { engine, state } = useEngine();
  const [open, setOpen] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  const name = state.me?.name ?? '';
  const isAdmin = state.me?.role === 'admin';
  const items = routes.filter((r) => r.menu && (!r.menu.admin || isAdmin)).sort((a, b) => a.menu!.order - b.menu!.order);

  useEffect(() => {
    if (!open) return;
    root.current?.querySelector<HTMLElement>('.menu a, .menu button')?.focus();
    const outside = (e: PointerEvent) => {
      if (!root.current?.contains(e.target as Node)) setOpen(false);
    };
    document.addEventListener('pointerdown', outside);
    return () => document.removeEventListener('pointerdown', outside);
  }, [open]);

  const close = () => setOpen(false);
  const other = currentLang() === 'de' ? 'en' : 'de';
  return (
    <div
      class="avatar-menu"
      ref={root}
      onKeyDown={(e) => {
        if (e.key === 'Escape' && open) {
          setOpen(false);
          root.current?.querySelector<HTMLElement>('.avatar')?.focus();
        }
      }}
    >
      <button type="button" class="avatar" aria-expanded={open} aria-controls="person-menu" onClick={() => setOpen(!open)}>
        <span aria-hidden="true">{initials(name)}</span>
        <span class="visually-hidden">{t('menu.open', { name })}</span>
      </button>
      {open && (
        <div class="menu" id="person-menu">
          <p class="menu-name">
            <strong>{name}</strong>
            <span>{state.me?.orgName}</span>
          </p>
          <ul>
            {items.map((r) => (
              <li key={r.path}>
                <Link href={r.path} onClick={close}>
                  {t(r.menu!.label)}
                </Link>
              </li>
            ))}
            <li>
              <button type="button" lang={other} onClick={() => setLang(other)}>
                {other === 'en' ? 'English' : 'Deutsch'}
              </button>
            </li>
            {state.unlockKind === 'pin' && (
              <li>
                <button
                  type="button"
                  onClick={() => {
                    close();
                    void engine.lock();
                  }}
                >
                  <Icon name="lock" />
                  {t('menu.lock')}
                </button>
              </li>
            )}
          </ul>
        </div>
      )}
    </div>
  );
}

function Nav({ section }: { section?: Section }) {
  const { state } = useEngine();
  const items = routes.filter((r) => r.nav).sort((a, b) => a.nav!.order - b.nav!.order);
  const unread = Object.values(state.unread).reduce((a, b) => a + b, 0);
  return (
    <nav class="main-nav" aria-label={t('nav.label')}>
      <ul>
        {items.map((r) => (
          <li key={r.path}>
            <Link href={r.path} aria-current={r.section === section ? 'page' : undefined}>
              <Icon name={r.nav!.icon} />
              <span>{t(r.nav!.label)}</span>
              {r.section === 'gruppen' && unread > 0 && (
                <span class="nav-count">
                  <span aria-hidden="true">{unread > 99 ? '99+' : unread}</span>
                  <span class="visually-hidden">{tn('groups.unread', unread, { shown: String(unread) })}</span>
                </span>
              )}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}

export function Layout({ section, detail, chat, children }: { section?: Section; detail?: ComponentChildren; chat?: boolean; children: ComponentChildren }) {
  const { state } = useEngine();
  return (
    <div class={`shell${chat ? ' shell-chat' : ''}${detail ? ' has-detail' : ''}`}>
      <a class="skip-link" href="#main">
        {t('common.skip')}
      </a>
      <header class="topbar">
        <Link href={PATHS.start} class="brand">
          <span class="brand-mark" aria-hidden="true">
            A
          </span>
          <span class="brand-name">Agora</span>
          {/* An organisation that kept the default name would read "Agora Agora". */}
          {state.me?.orgName && state.me.orgName !== 'Agora' && <span class="brand-org">{state.me.orgName}</span>}
        </Link>
        <AvatarMenu />
      </header>
      <Nav section={section} />
      <main id="main" tabIndex={-1}>
        <Banners />
        {children}
        <SearchIndexer />
      </main>
      {detail && (
        <aside class="detail" aria-label={t('common.detailPane')}>
          {detail}
        </aside>
      )}
    </div>
  );
}
