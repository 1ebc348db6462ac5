import { describe, expect, it } from '@jest/globals';
import { ed25519 } from '@noble/curves/ed25519.js';
import { cosignatureVkey } from './cosignature.js';
import { ed25519Vkey } from './note.js';
import { PolicySchema } from './policy.js';
import { toB64u } from '../encoding.js';

const pub = () => ed25519.getPublicKey(ed25519.utils.randomSecretKey());
const logPub = pub();
const [w1, w2] = [pub(), pub()];

const base = {
  log: { origin: 'agora/o_abc', vkey: ed25519Vkey('agora/o_abc', logPub) },
  witnesses: [
    { name: 'Security officer', vkey: cosignatureVkey('officer.example/w', w1) },
    { name: 'Backup witness', vkey: cosignatureVkey('backup.example/w', w2) },
  ],
  quorum: 1,
  maxCheckpointAgeSeconds: 86400,
};

const issues = (input: unknown) => {
  const r = PolicySchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('PolicySchema', () => {
  it('accepts a complete policy, including the optional limits', () => {
    expect(issues(base)).toEqual([]);
    const full = {
      ...base,
      quorum: 2,
      maxDevicesPerUser: 3,
      workingHours: { start: '08:00', end: '18:30', days: [1, 2, 3, 4, 5], timeZone: 'Europe/Paris' },
    };
    expect(PolicySchema.parse(full)).toEqual({ ...full, auditors: [] });
    expect(issues({ ...base, witnesses: [], quorum: 0 })).toEqual([]);
  });

  it('requires a type 0x01 log key and type 0x04 witness keys', () => {
    expect(issues({ ...base, log: { ...base.log, vkey: cosignatureVkey('agora/o_abc', logPub) } })).toEqual([
      expect.stringContaining('log.vkey'),
    ]);
    const plainWitness = { ...base, witnesses: [{ name: 'x', vkey: ed25519Vkey('x.example', w1) }], quorum: 0 };
    expect(issues(plainWitness)).toEqual([expect.stringContaining('witnesses.0.vkey')]);
    const mangled = base.log.vkey.slice(0, -2) + (base.log.vkey.endsWith('AA') ? 'AB' : 'AA');
    expect(issues({ ...base, log: { ...base.log, vkey: mangled } }).length).toBeGreaterThan(0);
  });

  it('refuses a quorum that distinct witness keys can never meet (duplicates do not count)', () => {
    expect(issues({ ...base, quorum: 3 })).toEqual([expect.stringContaining('quorum')]);
    const sameKeyTwice = {
      ...base,
      witnesses: [
        { name: 'A', vkey: cosignatureVkey('a.example', w1) },
        { name: 'A again', vkey: cosignatureVkey('other-name.example', w1) },
      ],
      quorum: 2,
    };
    expect(issues(sameKeyTwice)).toEqual([expect.stringContaining('quorum')]);
  });

  it('takes auditors with an Ed25519 and an X25519 key; a file without auditors has none', () => {
    const auditor = { name: 'Security officer', signPub: toB64u(pub()), encPub: toB64u(new Uint8Array(32).fill(9)) };
    expect(PolicySchema.parse({ ...base, auditors: [auditor] }).auditors).toEqual([auditor]);
    expect(PolicySchema.parse(base).auditors).toEqual([]);
    expect(issues({ ...base, auditors: [{ ...auditor, signPub: toB64u(new Uint8Array(31)) }] })).toEqual([expect.stringContaining('auditors.0.signPub')]);
    expect(issues({ ...base, auditors: [{ ...auditor, encPub: 'not base64url!' }] })).toEqual([expect.stringContaining('auditors.0.encPub')]);
    expect(issues({ ...base, auditors: [{ ...auditor, role: 'admin' }] }).length).toBeGreaterThan(0);
  });

  it('refuses malformed fields and unknown keys', () => {
    const bad: unknown[] = [
      { ...base, quorum: -1 },
      { ...base, quorum: 1.5 },
      { ...base, maxCheckpointAgeSeconds: 0 },
      { ...base, maxDevicesPerUser: 0 },
      { ...base, log: { ...base.log, origin: '' } },
      { ...base, log: { ...base.log, origin: 'a\nb' } },
      { ...base, workingHours: { start: '8:00', end: '18:00', days: [1], timeZone: 'UTC' } },
      { ...base, workingHours: { start: '08:00', end: '24:00', days: [1], timeZone: 'UTC' } },
      { ...base, workingHours: { start: '08:00', end: '18:00', days: [0], timeZone: 'UTC' } },
      { ...base, workingHours: { start: '08:00', end: '18:00', days: [8], timeZone: 'UTC' } },
      { ...base, workingHours: { start: '08:00', end: '18:00', days: [], timeZone: 'UTC' } },
      { ...base, workingHours: { start: '08:00', end: '18:00', days: [1], timeZone: 'Mars/Olympus_Mons' } },
      { ...base, quorom: 1 },
      { ...base, witnesses: [{ ...base.witnesses[0], extra: true }] },
      { log: base.log, witnesses: base.witnesses, quorum: 1 },
    ];
    for (const input of bad) expect(issues(input).length).toBeGreaterThan(0);
  });
});
