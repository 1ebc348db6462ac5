/** The setting of the attack scenarios: a real relay with its first administrator registered and the
 * misbehaving proxy (evil-relay.ts) in front of it, for the tests of one file. Calling
 * `evilRelayWorld` registers the Jest hooks: the world starts before the file's first test, the proxy
 * is honest again after every test, and everything is torn down after the last one. */
import type { AgoraClient } from '@agora/client-sdk';
import { nodeFetch } from '@agora/client-sdk/node';
import { toB64u } from '@agora/protocol';
import { PolicySchema } from '@agora/protocol/kt';
import { KtHttp, readerKtHttp, readerTokens } from '../../client-sdk/src/transport/kt-http.js';
import { RelayHttp } from '../../client-sdk/src/transport/http.js';
import { auditorPolicyEntry } from '../../protocol/src/kt/auditor-key.js';
import { invitePerson, startWorld, type Person, type RegisterOptions, type World } from '../helpers.js';
import { startEvilRelay, type EvilRelay } from './evil-relay.js';

export interface EvilWorldOptions {
  /** Publishes a policy that names a security officer's auditor key, so that the tests can read the
   * true log as the officer's audit does (the log is not public), with these witnesses and quorum. */
  auditor?: { signSeed: Uint8Array; encSecret: Uint8Array; witnesses?: { name: string; vkey: string }[]; quorum?: number };
}

export interface EvilWorld {
  readonly world: World;
  readonly admin: AgoraClient;
  readonly adminDir: string;
  readonly proxy: EvilRelay;
  /** The log as the auditor named in the policy reads it (only with `auditor`). */
  readonly auditorKt: KtHttp;
  /** A new person invited by the administrator and registered through the proxy, unless `via`
   * names another address. */
  join(name: string, opts?: RegisterOptions): Promise<Person>;
  /** The real relay's answer for a path, read with the auditor's token (only with `auditor`). */
  upstream<T>(path: string): Promise<T>;
}

export function evilRelayWorld(opts: EvilWorldOptions = {}): EvilWorld {
  let started: { world: World; admin: AgoraClient; adminDir: string; proxy: EvilRelay } | undefined;
  let auditor: { kt: KtHttp; token: () => Promise<string> } | undefined;
  const ready = () => {
    if (!started) throw new Error('the world starts in beforeAll: use it inside a test or a later hook');
    return started;
  };
  const audited = () => {
    if (!auditor) throw new Error('reading the log as the auditor needs the auditor option');
    return auditor;
  };

  beforeAll(async () => {
    const world = await startWorld();
    const { client: admin, profileDir: adminDir } = await world.register(world.adminInvite, 'Admin');
    if (opts.auditor) {
      const { signSeed, encSecret, witnesses = [], quorum = 0 } = opts.auditor;
      const p = await new KtHttp(new RelayHttp(world.url, nodeFetch)).policy();
      await admin.publishPolicy(PolicySchema.parse({
        log: { origin: p.origin, vkey: p.vkey },
        witnesses,
        auditors: [auditorPolicyEntry({ format: 'agora-auditor-key-v1', name: 'Security officer', signSeed: toB64u(signSeed), encSecret: toB64u(encSecret) })],
        quorum,
        maxCheckpointAgeSeconds: 3600,
      }));
      auditor = { kt: readerKtHttp(world.url, nodeFetch, 'auditor', signSeed), token: readerTokens(world.url, nodeFetch, 'auditor', signSeed) };
    }
    started = { world, admin, adminDir, proxy: await startEvilRelay(world.url) };
  }, 120_000);
  afterEach(() => started?.proxy.set(undefined));
  afterAll(async () => {
    await started?.proxy.close();
    await started?.world.close();
  });

  return {
    get world() {
      return ready().world;
    },
    get admin() {
      return ready().admin;
    },
    get adminDir() {
      return ready().adminDir;
    },
    get proxy() {
      return ready().proxy;
    },
    get auditorKt() {
      return audited().kt;
    },
    join: (name, o = {}) => invitePerson(ready().world, ready().admin, name, { ...o, via: o.via ?? ready().proxy.url }),
    async upstream<T>(path: string): Promise<T> {
      return (await (await fetch(ready().world.url + path, { headers: { authorization: `Bearer ${await audited().token()}` } })).json()) as T;
    },
  };
}

/** The cast of the secret-group scenarios, registered before the file's first test: Alice talks to
 * the relay through the proxy (so that a test can lose or rewrite her answers), the others directly. */
export function castOf(env: EvilWorld, others: string[]): Record<string, Person> {
  const people: Record<string, Person> = {};
  beforeAll(async () => {
    people.Alice = await env.join('Alice');
    for (const n of others) people[n] = await env.join(n, { via: env.world.url });
  }, 120_000);
  return people;
}
