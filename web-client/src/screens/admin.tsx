/** Verwaltung (administrators): invites with a QR code and a printable sheet of them, departments,
 * people and their roles, and letting a person leave — each with what it does said before it is
 * done. Invite codes are secrets: they stay in this page's memory (for the print sheet) and are
 * never stored. */
import { useState } from 'preact/hooks';
import { useEngine } from '../engine/hooks.js';
import { formatDateTime, t, tn } from '../i18n/index.js';
import { Link } from '../router.js';
import { PATHS } from '../paths.js';
import { Field, ProblemMessage, ScreenTitle } from '../ui/common.js';
import { Icon } from '../ui/icons.js';
import { applyPolicyFile, ConfirmDialog, Grouped, roleWord, statusWord, useAction, useLoad, type Loaded } from './parts.js';
import type { AgoraClient } from '../engine/sdk.js';
import { QrCode } from './qr.js';
import { codeGroups, inviteUrl } from './security.js';

export const ADMIN_PATH = PATHS.admin;
export const PRINT_PATH = PATHS.printSheet;

type Role = 'admin' | 'announcer' | 'member';

export interface IssuedInvite {
  code: string;
  name: string;
  department?: string;
  role: Role;
  kind: 'user' | 'device';
  expiresAt: number;
}

/** This session's invites, newest last: what the print sheet shows. */
let issued: IssuedInvite[] = [];

function addIssued(i: IssuedInvite): void {
  issued = [...issued, i];
}

export function issuedInvites(): IssuedInvite[] {
  return issued;
}

/** Administrators only: everyone else is told so (the menu entry is hidden from them anyway). */
export function AdminScreen() {
  const { state } = useEngine();
  if (state.me?.role !== 'admin') {
    return (
      <section class="scr">
        <ScreenTitle>{t('admin.title')}</ScreenTitle>
        <p>{t('admin.onlyAdmins')}</p>
      </section>
    );
  }
  return (
    <section class="scr" aria-labelledby="scr-admin-title">
      <ScreenTitle>
        <span id="scr-admin-title">{t('admin.title')}</span>
      </ScreenTitle>
      <nav class="scr-subnav" aria-label={t('admin.sections')}>
        <a href="#einladungen">{t('admin.invites')}</a>
        <a href="#abteilungen">{t('admin.departments')}</a>
        <a href="#rollen">{t('admin.roles')}</a>
        <a href="#ausscheiden">{t('admin.leave')}</a>
        <a href="#richtlinie">{t('admin.policy')}</a>
      </nav>
      <AdminSections />
    </section>
  );
}

type Departments = Awaited<ReturnType<AgoraClient['departments']>>;
type Directory = Awaited<ReturnType<AgoraClient['directory']>>;

/** What the sections show, loaded once and reloaded together: a department created in one section
 * is at once a choice in the invite form, a person who left drops out of every list. */
interface Shared {
  depts: Loaded<Departments>;
  dir: Loaded<Directory>;
  reload: () => void;
}

function AdminSections() {
  const { engine } = useEngine();
  const depts = useLoad(() => engine.run((c) => c.departments()), []);
  const dir = useLoad(() => engine.run((c) => c.directory()), []);
  const shared: Shared = {
    depts,
    dir,
    reload: () => {
      depts.reload();
      dir.reload();
    },
  };
  return (
    <>
      <Invites shared={shared} />
      <DepartmentsSection shared={shared} />
      <Roles shared={shared} />
      <Leave shared={shared} />
      <PolicySection />
    </>
  );
}

function Invites({ shared }: { shared: Shared }) {
  const { engine } = useEngine();
  const departments = shared.depts;
  const [name, setName] = useState('');
  const [department, setDepartment] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [newPerson, setNewPerson] = useState(false);
  const [nameError, setNameError] = useState<string | undefined>();
  const [, setTick] = useState(0);
  const action = useAction();
  const list = issuedInvites();

  async function create(e: Event) {
    e.preventDefault();
    if (!name.trim()) {
      setNameError(t('admin.inviteNameMissing'));
      return;
    }
    setNameError(undefined);
    // As on the command line: a name that already has an account, with no department or role given,
    // gets a code for a further device of that person unless "new person" is ticked.
    const inv = await action.run(() =>
      engine.run((c) => c.createInvite({ name: name.trim(), department: department || undefined, role: role === 'member' ? undefined : role, newPerson: newPerson || undefined })),
    );
    if (inv) {
      const dept = departments.data?.find((d) => d.id === department)?.name;
      addIssued({ code: inv.code, name: name.trim(), department: dept, role, kind: inv.kind, expiresAt: inv.expiresAt });
      setName('');
      setNewPerson(false);
      setTick((n) => n + 1);
    }
  }

  const newest = list.at(-1);
  return (
    <section class="scr-card" id="einladungen" aria-labelledby="scr-invites-title">
      <h2 id="scr-invites-title">{t('admin.invites')}</h2>
      <p>{t('admin.invitesExplain')}</p>
      <form onSubmit={(e) => void create(e)} noValidate>
        <Field id="scr-invite-name" label={t('admin.inviteName')} value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="off" error={nameError} />
        <div class="field">
          <label for="scr-invite-dept">{t('admin.inviteDepartment')}</label>
          <select id="scr-invite-dept" value={department} onChange={(e) => setDepartment(e.currentTarget.value)}>
            <option value="">{t('admin.noDepartment')}</option>
            {(departments.data ?? []).map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
              </option>
            ))}
          </select>
        </div>
        <fieldset class="field scr-radios">
          <legend>{t('admin.inviteRole')}</legend>
          {(['member', 'announcer', 'admin'] as const).map((r) => (
            <label key={r}>
              <input type="radio" name="scr-invite-role" value={r} checked={role === r} onChange={() => setRole(r)} /> {roleWord(r)}
            </label>
          ))}
        </fieldset>
        <label class="scr-check">
          <input type="checkbox" checked={newPerson} onChange={(e) => setNewPerson(e.currentTarget.checked)} aria-describedby="scr-invite-new-hint" /> {t('admin.inviteNewPerson')}
        </label>
        <p class="hint" id="scr-invite-new-hint">
          {t('admin.inviteNewPersonHint')}
        </p>
        {action.problem && <ProblemMessage problem={action.problem} />}
        <button type="submit" class="button primary" disabled={action.busy}>
          {t('admin.inviteCreate')}
        </button>
      </form>
      {newest && (
        <div class="scr-invite" aria-live="polite">
          <h3>{t('admin.inviteFor', { name: newest.name })}</h3>
          {newest.kind === 'device' && <p class="scr-warning">{t('admin.inviteIsDevice', { name: newest.name })}</p>}
          <QrCode text={inviteUrl(newest.code)} label={t('admin.inviteQr', { name: newest.name })} className="scr-qr" />
          <Grouped parts={codeGroups(newest.code)} label={t('common.inviteCode')} className="scr-code" />
          <p class="scr-meta">
            {inviteUrl('…')} · {t('security.linkExpires', { date: formatDateTime(newest.expiresAt) })}
          </p>
        </div>
      )}
      {list.length > 0 && (
        <p>
          <Link class="button" href={PRINT_PATH}>
            {tn('admin.printSheet', list.length)}
          </Link>
        </p>
      )}
    </section>
  );
}

function DepartmentsSection({ shared }: { shared: Shared }) {
  const { engine } = useEngine();
  const { depts, dir } = shared;
  const [newName, setNewName] = useState('');
  const [renaming, setRenaming] = useState<{ id: string; name: string } | undefined>();
  const [deleting, setDeleting] = useState<{ id: string; name: string } | undefined>();
  const [adding, setAdding] = useState<Record<string, string>>({});
  const action = useAction();
  const users = dir.data?.users ?? [];
  const nameOf = (id: string) => users.find((u) => u.id === id)?.name ?? id;

  async function act(fn: () => Promise<unknown>) {
    const ok = await action.run(async () => {
      await fn();
      return true;
    });
    if (ok) shared.reload();
    return ok;
  }

  return (
    <section class="scr-card" id="abteilungen" aria-labelledby="scr-depts-title">
      <h2 id="scr-depts-title">{t('admin.departments')}</h2>
      <p>{t('admin.departmentsExplain')}</p>
      {depts.problem && <ProblemMessage problem={depts.problem} />}
      {action.problem && <ProblemMessage problem={action.problem} />}
      <form
        class="scr-inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          const n = newName.trim();
          if (n) void act(() => engine.run((c) => c.createDepartment(n))).then((ok) => ok && setNewName(''));
        }}
      >
        <Field id="scr-dept-new" label={t('admin.departmentNew')} value={newName} onInput={(e) => setNewName(e.currentTarget.value)} autocomplete="off" />
        <button type="submit" class="button primary" disabled={action.busy || !newName.trim()}>
          {t('admin.departmentCreate')}
        </button>
      </form>
      <ul class="scr-depts">
        {(depts.data ?? []).map((d) => (
          <li key={d.id} class="scr-dept">
            <h3>{d.name}</h3>
            <p class="scr-meta">{tn('admin.departmentMembers', d.members.length)}</p>
            <ul class="scr-list" aria-label={t('admin.departmentMembersOf', { name: d.name })}>
              {d.members.map((m) => (
                <li key={m} class="scr-row">
                  <span class="scr-row-main">
                    <span class="scr-name">{nameOf(m)}</span>
                  </span>
                  <button
                    type="button"
                    class="button scr-danger-text"
                    disabled={action.busy}
                    aria-label={t('admin.departmentRemoveWho', { name: nameOf(m), dept: d.name })}
                    onClick={() => void act(() => engine.run((c) => c.removeDepartmentMember(d.id, m)))}
                  >
                    {t('members.remove')}
                  </button>
                </li>
              ))}
            </ul>
            <form
              class="scr-inline-form"
              onSubmit={(e) => {
                e.preventDefault();
                const u = adding[d.id];
                if (u) void act(() => engine.run((c) => c.addDepartmentMember(d.id, u))).then((ok) => ok && setAdding({ ...adding, [d.id]: '' }));
              }}
            >
              <div class="field">
                <label for={`scr-dept-add-${d.id}`}>{t('admin.departmentAdd', { name: d.name })}</label>
                <select id={`scr-dept-add-${d.id}`} value={adding[d.id] ?? ''} onChange={(e) => setAdding({ ...adding, [d.id]: e.currentTarget.value })}>
                  <option value="">{t('admin.choosePerson')}</option>
                  {users
                    .filter((u) => u.status === 'active' && !d.members.includes(u.id))
                    .map((u) => (
                      <option key={u.id} value={u.id}>
                        {u.name}
                      </option>
                    ))}
                </select>
              </div>
              <button type="submit" class="button" disabled={action.busy || !adding[d.id]}>
                {t('members.add')}
              </button>
            </form>
            <div class="scr-actions">
              <button type="button" class="button" onClick={() => setRenaming({ id: d.id, name: d.name })}>
                {t('admin.rename')}
              </button>
              <button type="button" class="button scr-danger-text" onClick={() => setDeleting({ id: d.id, name: d.name })}>
                {t('admin.delete')}
              </button>
            </div>
            {renaming?.id === d.id && (
              <form
                class="scr-inline-form"
                onSubmit={(e) => {
                  e.preventDefault();
                  const n = renaming.name.trim();
                  if (n) void act(() => engine.run((c) => c.renameDepartment(d.id, n))).then((ok) => ok && setRenaming(undefined));
                }}
              >
                <Field id={`scr-dept-rename-${d.id}`} label={t('admin.renameTo', { name: d.name })} value={renaming.name} onInput={(e) => setRenaming({ id: d.id, name: e.currentTarget.value })} />
                <button type="submit" class="button primary" disabled={action.busy}>
                  {t('admin.save')}
                </button>
                <button type="button" class="button" onClick={() => setRenaming(undefined)}>
                  {t('common.cancel')}
                </button>
              </form>
            )}
          </li>
        ))}
      </ul>
      {deleting && (
        <ConfirmDialog
          title={t('admin.deleteTitle', { name: deleting.name })}
          confirmLabel={t('admin.deleteConfirm')}
          danger
          busy={action.busy}
          onCancel={() => setDeleting(undefined)}
          onConfirm={() => void act(() => engine.run((c) => c.deleteDepartment(deleting.id))).then(() => setDeleting(undefined))}
        >
          <p>{t('admin.deleteWhat', { name: deleting.name })}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}

const ROLES: readonly Role[] = ['member', 'announcer', 'admin'];

/** The people and their roles as the key-transparency log proves them (the relay's word only for
 * someone the log does not prove yet, marked so), with a selector per active person. A change is
 * confirmed first: it is signed by this device and logged for every device and the audit to see. */
function Roles({ shared }: { shared: Shared }) {
  const { engine, state } = useEngine();
  const { dir } = shared;
  const logged = useLoad(() => engine.run((c) => c.verifiedRoles()), [dir.data]);
  const [asked, setAsked] = useState<{ id: string; name: string; from: Role; to: Role } | undefined>();
  const [done, setDone] = useState<{ name: string; role: Role } | undefined>();
  // Changes made here, shown while the lists reload (verified when setRole saw them in the log).
  const [changed, setChanged] = useState<Record<string, { role: Role; verified: boolean }>>({});
  const action = useAction();
  const users = [...(dir.data?.users ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const devices = dir.data?.devices ?? [];
  const roleOf = (u: { id: string; role: Role }) =>
    changed[u.id] ?? logged.data?.find((r) => r.userId === u.id) ?? { role: u.role, verified: false };
  const admins = users.filter((u) => u.status === 'active' && roleOf(u).role === 'admin').length;
  const lastAdmin = asked !== undefined && asked.from === 'admin' && asked.to !== 'admin' && admins <= 1;

  async function change() {
    if (!asked) return;
    const r = await action.run(() => engine.run((c) => c.setRole(asked.id, asked.to)));
    if (r) {
      setDone({ name: r.name, role: r.role });
      setChanged((c) => ({ ...c, [r.userId]: { role: r.role, verified: r.inLog } }));
      setAsked(undefined);
      shared.reload();
    }
  }

  return (
    <section class="scr-card" id="rollen" aria-labelledby="scr-roles-title">
      <h2 id="scr-roles-title">{t('admin.roles')}</h2>
      <dl class="scr-facts">
        <dt>{roleWord('admin')}</dt>
        <dd>{t('admin.role.adminExplain')}</dd>
        <dt>{roleWord('announcer')}</dt>
        <dd>{t('admin.role.announcerExplain')}</dd>
        <dt>{roleWord('member')}</dt>
        <dd>{t('admin.role.memberExplain')}</dd>
      </dl>
      <p class="scr-hint">{t('admin.roleByInvite')}</p>
      {dir.problem && <ProblemMessage problem={dir.problem} />}
      {logged.problem && <ProblemMessage problem={logged.problem} />}
      {done && (
        <p class="scr-ok" role="status">
          <Icon name="check" /> {t('roles.done', { name: done.name, role: roleWord(done.role) })}
        </p>
      )}
      <div class="scr-table-wrap">
        <table class="scr-table">
          <caption class="visually-hidden">{t('admin.peopleCaption')}</caption>
          <thead>
            <tr>
              <th scope="col">{t('officer.col.person')}</th>
              <th scope="col">{t('admin.col.role')}</th>
              <th scope="col">{t('admin.col.status')}</th>
              <th scope="col">{t('admin.col.devices')}</th>
            </tr>
          </thead>
          <tbody>
            {users.map((u) => {
              const r = roleOf(u);
              return (
                <tr key={u.id}>
                  <td>{u.name}</td>
                  <td>
                    {u.status === 'active' ? (
                      <select
                        aria-label={t('roles.choose', { name: u.name })}
                        value={r.role}
                        disabled={action.busy || logged.loading}
                        onChange={(e) => {
                          const to = e.currentTarget.value as Role;
                          e.currentTarget.value = r.role;
                          if (to !== r.role) {
                            action.clear();
                            setDone(undefined);
                            setAsked({ id: u.id, name: u.name, from: r.role, to });
                          }
                        }}
                      >
                        {ROLES.map((x) => (
                          <option key={x} value={x}>
                            {roleWord(x)}
                          </option>
                        ))}
                      </select>
                    ) : (
                      roleWord(r.role)
                    )}
                    {!r.verified && !logged.loading && <span class="scr-meta"> {t('roles.unverified')}</span>}
                  </td>
                  <td>{statusWord(u.status)}</td>
                  <td>{devices.filter((d) => d.userId === u.id && d.status === 'active').length}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {asked && (
        <ConfirmDialog
          title={t('roles.confirmTitle', { name: asked.name })}
          confirmLabel={t('roles.confirm')}
          busy={action.busy || lastAdmin}
          onCancel={() => setAsked(undefined)}
          onConfirm={() => void change()}
        >
          <p>{t('roles.confirmWhat', { name: asked.name, from: roleWord(asked.from), to: roleWord(asked.to) })}</p>
          {asked.id === state.me?.userId && !lastAdmin && <p>{t('roles.confirmSelf')}</p>}
          {lastAdmin && <div class="problem" role="alert"><p>{t('roles.lastAdmin')}</p></div>}
          {action.problem && <ProblemMessage problem={action.problem} />}
        </ConfirmDialog>
      )}
    </section>
  );
}

function Leave({ shared }: { shared: Shared }) {
  const { engine, state } = useEngine();
  const { dir } = shared;
  const [query, setQuery] = useState('');
  const [who, setWho] = useState<{ id: string; name: string } | undefined>();
  const [understood, setUnderstood] = useState(false);
  const [done, setDone] = useState<{ name: string; devices: number } | undefined>();
  const action = useAction();
  const q = query.trim().toLocaleLowerCase();
  const matches = q ? (dir.data?.users ?? []).filter((u) => u.status === 'active' && u.id !== state.me?.userId && u.name.toLocaleLowerCase().includes(q)).slice(0, 10) : [];

  async function deactivate() {
    if (!who) return;
    const r = await action.run(() => engine.run((c) => c.deactivate(who.id)));
    if (r) {
      setDone({ name: who.name, devices: r.revokedDevices.length });
      setWho(undefined);
      setQuery('');
      shared.reload();
    }
  }

  return (
    <section class="scr-card" id="ausscheiden" aria-labelledby="scr-leave-title">
      <h2 id="scr-leave-title">{t('admin.leave')}</h2>
      <p>{t('admin.leaveExplain')}</p>
      <div class="field" role="search">
        <label for="scr-leave-query">{t('admin.leaveSearch')}</label>
        <input id="scr-leave-query" type="search" autocomplete="off" value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
      </div>
      {done && (
        <p class="scr-ok" role="status">
          <Icon name="check" /> {tn('admin.leaveDone', done.devices, { name: done.name })}
        </p>
      )}
      {q && (
        <ul class="scr-list" aria-label={t('admin.leaveResults')}>
          {matches.length === 0 && <li class="scr-empty">{t('members.addNone')}</li>}
          {matches.map((u) => (
            <li key={u.id} class="scr-row">
              <span class="scr-row-main">
                <span class="scr-name">{u.name}</span>
              </span>
              <button type="button" class="button scr-danger-text" onClick={() => {
                setUnderstood(false);
                setWho({ id: u.id, name: u.name });
              }}>
                {t('admin.leaveButton')}
              </button>
            </li>
          ))}
        </ul>
      )}
      {action.problem && <ProblemMessage problem={action.problem} />}
      {who && (
        <ConfirmDialog
          title={t('admin.leaveTitle', { name: who.name })}
          confirmLabel={t('admin.leaveConfirm')}
          danger
          busy={action.busy || !understood}
          onCancel={() => setWho(undefined)}
          onConfirm={() => void deactivate()}
        >
          <p>{t('admin.leaveWhat', { name: who.name })}</p>
          <ul>
            <li>{t('admin.leave.devices', { name: who.name })}</li>
            <li>{t('admin.leave.groups', { name: who.name })}</li>
            <li>{t('admin.leave.orgKey', { name: who.name })}</li>
            <li>{t('admin.leave.final')}</li>
          </ul>
          <label class="scr-check">
            <input type="checkbox" checked={understood} onChange={(e) => setUnderstood(e.currentTarget.checked)} /> {t('admin.leaveUnderstood')}
          </label>
        </ConfirmDialog>
      )}
    </section>
  );
}

function PolicySection() {
  const { engine } = useEngine();
  const [done, setDone] = useState<{ witnesses: number; auditors: number } | undefined>();
  const action = useAction();

  async function publish(input: HTMLInputElement) {
    setDone(undefined);
    const p = await applyPolicyFile(input, action, (policy) => engine.run((c) => c.publishPolicy(policy)));
    if (p) setDone({ witnesses: p.witnesses.length, auditors: p.auditors.length });
  }

  return (
    <section class="scr-card" id="richtlinie" aria-labelledby="scr-policy-title">
      <h2 id="scr-policy-title">{t('admin.policy')}</h2>
      <p>{t('admin.policyExplain')}</p>
      <div class="field">
        <label for="scr-policy-file">{t('admin.policyFile')}</label>
        <input id="scr-policy-file" type="file" accept=".json,application/json" disabled={action.busy} onChange={(e) => void publish(e.currentTarget)} />
      </div>
      {action.problem && <ProblemMessage problem={action.problem} />}
      {done && (
        <p class="scr-ok" role="status">
          <Icon name="check" /> {t('admin.policyPublished', done)}
        </p>
      )}
    </section>
  );
}

/** A sheet of this session's invites for printing: one card per person with QR code, code and name. */
export function PrintSheetScreen() {
  const list = issuedInvites();
  return (
    <section class="scr scr-print" aria-labelledby="scr-print-title">
      <div class="scr-noprint">
        <ScreenTitle back={ADMIN_PATH} backLabel={t('admin.backToAdmin')}>
          <span id="scr-print-title">{t('admin.printTitle')}</span>
        </ScreenTitle>
        {list.length === 0 ? (
          <p>{t('admin.printEmpty')}</p>
        ) : (
          <>
            <p>{t('admin.printExplain')}</p>
            <button type="button" class="button primary" onClick={() => window.print()}>
              {t('admin.print')}
            </button>
          </>
        )}
      </div>
      <ul class="scr-sheet" aria-label={t('admin.printTitle')}>
        {list.map((i) => (
          <li key={i.code} class="scr-sheet-card">
            <p class="scr-sheet-name">{i.name}</p>
            {i.department && <p class="scr-meta">{i.department}</p>}
            <QrCode text={inviteUrl(i.code)} label={t('admin.inviteQr', { name: i.name })} className="scr-sheet-qr" />
            <Grouped parts={codeGroups(i.code)} label={t('common.inviteCode')} className="scr-code" />
            <p class="scr-sheet-how">{t('admin.printHow', { origin: location.host })}</p>
            <p class="scr-meta">{t('admin.printValid', { date: formatDateTime(i.expiresAt) })}</p>
          </li>
        ))}
      </ul>
    </section>
  );
}
