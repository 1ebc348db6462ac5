/** The relay's HTTP API as typed calls. Every response is parsed with the shared zod schemas: a
 * relay is not trusted to answer in shape. The `fetch` implementation is injected so the same code
 * runs in Node and browsers. */
import * as z from 'zod';
import * as api from '@agora/protocol/api';
import type { ErrorBody } from '@agora/protocol/errors';
import { AgoraError } from '../core/errors.js';
import { req, type RelayRequest } from '../engine/requests.js';
import { checkAnswer } from '../engine/op.js';

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; body?: string }) => Promise<{
  status: number;
  text(): Promise<string>;
}>;

export class RelayHttp {
  private readonly base: string;
  /** `token(true)` must fetch a new token: the relay refused the cached one (expired early, secret rotated). */
  constructor(server: string, private readonly fetchImpl: FetchLike, private token: (fresh?: boolean) => Promise<string | undefined> = async () => undefined) {
    this.base = server.replace(/\/+$/, '');
  }

  withToken(token: (fresh?: boolean) => Promise<string | undefined>): RelayHttp {
    return new RelayHttp(this.base, this.fetchImpl, token);
  }

  async call<S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, body?: unknown, auth = true): Promise<z.infer<S>> {
    return this.request({ method, path, schema, body, auth });
  }

  /** A request the client machine describes (engine/requests.ts), its answer checked against the
   * request's schema: for callers outside the machine (witnesses, auditors, tests). */
  async request<S extends z.ZodType>(request: RelayRequest<S>): Promise<z.infer<S>> {
    return checkAnswer(request, await this.perform(request));
  }

  /** Performs a request the client machine described (engine/requests.ts) and returns the answer
   * unparsed: the machine checks it against the request's schema itself. */
  perform(request: RelayRequest): Promise<unknown> {
    return this.raw(request.method, request.path, request.body, request.auth);
  }

  /** The relay's JSON answer, or an AgoraError for a refusal (with the relay's code, field and
   * epoch) or an unreachable relay. A refused token is replaced once. */
  private async raw(method: 'GET' | 'POST', path: string, body: unknown, auth: boolean, freshToken = false): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth) {
      const t = await this.token(freshToken);
      if (t) headers.authorization = `Bearer ${t}`;
    }
    let res;
    try {
      res = await this.fetchImpl(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new AgoraError('network', `cannot reach the relay at ${this.base} (${(e as Error).message})`);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new AgoraError('internal', `the relay answered ${res.status} with something that is not JSON`);
    }
    if (res.status === 401 && auth && !freshToken && (json as ErrorBody | undefined)?.error?.code === 'unauthenticated') {
      return this.raw(method, path, body, auth, true);
    }
    if (res.status >= 400) {
      const err = (json as ErrorBody | undefined)?.error;
      const code = err?.code ?? 'internal';
      const message = err?.message ?? `the relay answered ${res.status}`;
      throw new AgoraError(code, err?.field ? `${message} (field: ${err.field})` : message, {
        status: res.status,
        field: err?.field,
        epoch: err?.epoch,
        entries: Array.isArray(err?.entries) ? err.entries : undefined,
      });
    }
    return json;
  }

  info() { return this.request(req.info()); }
  inviteInfo(codeHash: string) { return this.request(req.inviteInfo(codeHash)); }
  register(body: api.RegisterRequest) { return this.request(req.register(body)); }
  challenge(deviceId: string) { return this.request(req.challenge(deviceId)); }
  token_(body: z.infer<typeof api.TokenRequest>) { return this.request(req.token(body)); }
  me() { return this.request(req.me()); }
  directory() { return this.request(req.directory()); }
  createInvite(body: z.input<typeof api.CreateInviteRequest>) { return this.request(req.createInvite(body)); }
  createDepartment(name: string) { return this.request(req.createDepartment(name)); }
  departments() { return this.request(req.departments()); }
  addDepartmentMember(departmentId: string, userId: string) { return this.request(req.addDepartmentMember(departmentId, userId)); }
  removeDepartmentMember(departmentId: string, userId: string) { return this.request(req.removeDepartmentMember(departmentId, userId)); }
  renameDepartment(id: string, name: string) { return this.request(req.renameDepartment(id, name)); }
  deleteDepartment(id: string) { return this.request(req.deleteDepartment(id)); }
  renameGroup(id: string, name: string) { return this.request(req.renameGroup(id, name)); }
  deleteGroup(id: string) { return this.request(req.deleteGroup(id)); }
  deactivate(userId: string) { return this.request(req.deactivate(userId)); }
  createGroup(body: z.input<typeof api.CreateGroupRequest>) { return this.request(req.createGroup(body)); }
  groups() { return this.request(req.groups()); }
  group(id: string) { return this.request(req.group(id)); }
  joinGroup(id: string) { return this.request(req.joinGroup(id)); }
  addPublicMembers(id: string, userIds: string[]) { return this.request(req.addPublicMembers(id, userIds)); }
  removePublicMembers(id: string, userIds: string[]) { return this.request(req.removePublicMembers(id, userIds)); }
  initSecretGroup(id: string, membership: api.MembershipProof) { return this.request(req.initSecretGroup(id, membership)); }
  commit(id: string, body: api.CommitRequest) { return this.request(req.commit(id, body)); }
  appendRecord(id: string, body: api.RecordRequest) { return this.request(req.appendRecord(id, body)); }
  log(id: string, after: number, limit?: number) { return this.request(req.log(id, after, limit)); }
  mailbox(after: number) { return this.request(req.mailbox(after)); }
  /** `query` selects the checkpoint as GET /v1/kt/checkpoint would ('' or starting with '&'). */
  sync(cursor: api.SyncCursor, query: string) { return this.request(req.sync(cursor, query)); }
  sendHistory(deviceId: string, payload: string) { return this.request(req.sendHistory(deviceId, payload)); }
  uploadKeyPackages(keyPackages: string[], lastResort?: string) { return this.request(req.uploadKeyPackages(keyPackages, lastResort)); }
  approveDevice(deviceId: string, signature: string) { return this.request(req.approveDevice(deviceId, signature)); }
  revokeDevice(deviceId: string) { return this.request(req.revokeDevice(deviceId)); }
  keyPackageStock() { return this.request(req.keyPackageStock()); }
  claimKeyPackages(groupId: string, deviceIds: string[]) { return this.request(req.claimKeyPackages(groupId, deviceIds)); }
  orgKeys() { return this.request(req.orgKeys()); }
  createGeneration(body: z.input<typeof api.CreateGenerationRequest>) { return this.request(req.createGeneration(body)); }
  uploadEnvelopes(envelopes: api.Envelope[]) { return this.request(req.uploadEnvelopes(envelopes)); }
  pending() { return this.request(req.pending()); }
  refuseEnvelope(body: api.RefuseEnvelopeRequest) { return this.request(req.refuseEnvelope(body)); }
}
