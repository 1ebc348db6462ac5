/** The relay's HTTP API as typed calls. Every response is parsed with the shared zod schemas: a
 * relay is not trusted to answer in shape. The `fetch` implementation is injected so the same code
 * runs in Node and browsers. */
import * as z from 'zod';
import * as api from '../protocol/api.js';
import type { ErrorBody } from '../protocol/errors.js';
import { AgoraError } from '../core/errors.js';

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

  async call<S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, body?: unknown, auth = true, freshToken = false): Promise<z.infer<S>> {
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
      return this.call(method, path, schema, body, auth, true);
    }
    if (res.status >= 400) {
      const err = (json as ErrorBody | undefined)?.error;
      const code = err?.code ?? 'internal';
      const message = err?.message ?? `the relay answered ${res.status}`;
      throw new AgoraError(code, err?.field ? `${message} (field: ${err.field})` : message, {
        status: res.status,
        field: err?.field,
        epoch: err?.epoch,
      });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new AgoraError('internal', `the relay's answer to ${method} ${path.split('?')[0]} is malformed: ${parsed.error.issues[0]?.path.join('.')}`);
    }
    return parsed.data;
  }

  info() { return this.call('GET', '/v1/info', api.InfoResponse, undefined, false); }
  inviteInfo(codeHash: string) { return this.call('GET', `/v1/invites/${encodeURIComponent(codeHash)}`, api.InviteInfoResponse, undefined, false); }
  register(body: api.RegisterRequest) { return this.call('POST', '/v1/register', api.RegisterResponse, body, false); }
  challenge(deviceId: string) { return this.call('POST', '/v1/auth/challenge', api.ChallengeResponse, { deviceId }, false); }
  token_(body: z.infer<typeof api.TokenRequest>) { return this.call('POST', '/v1/auth/token', api.TokenResponse, body, false); }
  me() { return this.call('GET', '/v1/me', api.MeResponse); }
  directory() { return this.call('GET', '/v1/directory', api.DirectoryResponse); }
  createInvite(body: z.input<typeof api.CreateInviteRequest>) { return this.call('POST', '/v1/invites', api.CreateInviteResponse, body); }
  createDepartment(name: string) { return this.call('POST', '/v1/departments', api.Department, { name }); }
  departments() { return this.call('GET', '/v1/departments', api.DepartmentsResponse); }
  addDepartmentMember(departmentId: string, userId: string) {
    return this.call('POST', `/v1/departments/${encodeURIComponent(departmentId)}/members`, api.Department, { userId });
  }
  removeDepartmentMember(departmentId: string, userId: string) {
    return this.call('POST', `/v1/departments/${encodeURIComponent(departmentId)}/members/remove`, api.Department, { userId });
  }
  renameDepartment(id: string, name: string) { return this.call('POST', `/v1/departments/${encodeURIComponent(id)}/rename`, api.Department, { name }); }
  deleteDepartment(id: string) { return this.call('POST', `/v1/departments/${encodeURIComponent(id)}/delete`, api.DeletedResponse, {}); }
  renameGroup(id: string, name: string) { return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/rename`, api.GroupView, { name }); }
  deleteGroup(id: string) { return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/delete`, api.DeletedResponse, {}); }
  deactivate(userId: string) { return this.call('POST', `/v1/admin/users/${encodeURIComponent(userId)}/deactivate`, api.DeactivateResponse, {}); }
  createGroup(body: z.input<typeof api.CreateGroupRequest>) { return this.call('POST', '/v1/groups', api.GroupView, body); }
  groups() { return this.call('GET', '/v1/groups', api.GroupsResponse); }
  group(id: string) { return this.call('GET', `/v1/groups/${encodeURIComponent(id)}`, api.GroupView); }
  joinGroup(id: string) { return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/join`, api.GroupView, {}); }
  addPublicMembers(id: string, userIds: string[]) { return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/members`, api.GroupView, { userIds }); }
  removePublicMembers(id: string, userIds: string[]) {
    return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/members/remove`, api.GroupView, { userIds });
  }
  initSecretGroup(id: string, membership: api.MembershipProof) {
    return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/init`, api.GroupView, { epoch: 0, membership });
  }
  commit(id: string, body: api.CommitRequest) { return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/commits`, api.CommitResponse, body); }
  appendRecord(id: string, body: api.RecordRequest) { return this.call('POST', `/v1/groups/${encodeURIComponent(id)}/records`, api.RecordResponse, body); }
  log(id: string, after: number, limit?: number) {
    const q = `after=${after}${limit ? `&limit=${limit}` : ''}`;
    return this.call('GET', `/v1/groups/${encodeURIComponent(id)}/log?${q}`, api.LogResponse);
  }
  mailbox(after: number) { return this.call('GET', `/v1/mailbox?after=${after}`, api.MailboxResponse); }
  /** `query` selects the checkpoint as GET /v1/kt/checkpoint would ('' or starting with '&'). */
  sync(cursor: api.SyncCursor, query: string) { return this.call('GET', `/v1/sync?cursor=${cursor}${query}`, api.SyncResponse); }
  sendHistory(deviceId: string, payload: string) { return this.call('POST', '/v1/history', api.SeqResponse, { deviceId, payload }); }
  uploadKeyPackages(keyPackages: string[], lastResort?: string) {
    return this.call('POST', '/v1/keypackages', api.StockResponse, { keyPackages, ...(lastResort ? { lastResort } : {}) });
  }
  approveDevice(deviceId: string, signature: string) {
    return this.call('POST', '/v1/devices/approve', api.ApproveDeviceResponse, { deviceId, signature });
  }
  revokeDevice(deviceId: string) {
    return this.call('POST', `/v1/devices/${encodeURIComponent(deviceId)}/revoke`, api.RevokeDeviceResponse, {});
  }
  keyPackageStock() { return this.call('GET', '/v1/keypackages/stock', api.StockResponse); }
  claimKeyPackages(groupId: string, deviceIds: string[]) {
    return this.call('POST', '/v1/keypackages/claim', api.ClaimKeyPackagesResponse, { groupId, deviceIds });
  }
  orgKeys() { return this.call('GET', '/v1/orgkeys', api.OrgKeysResponse); }
  createGeneration(body: z.input<typeof api.CreateGenerationRequest>) {
    return this.call('POST', '/v1/orgkeys/generations', api.CreateGenerationResponse, body);
  }
  uploadEnvelopes(envelopes: api.Envelope[]) { return this.call('POST', '/v1/orgkeys/envelopes', api.UploadEnvelopesResponse, { envelopes }); }
  pending() { return this.call('GET', '/v1/orgkeys/pending', api.PendingResponse); }
  refuseEnvelope(body: api.RefuseEnvelopeRequest) { return this.call('POST', '/v1/orgkeys/refused', api.RefuseEnvelopeResponse, body); }
}
