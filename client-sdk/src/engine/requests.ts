/** Every relay call the client machine makes, as data: method, path, body, whether the device's
 * token goes along, and the zod schema its answer must have. A driver performs them (transport/);
 * the machine parses the answer itself (op.ts `ask`), so a relay answering out of shape is refused
 * in the same place whatever driver ran the request. */
import * as z from 'zod';
import * as api from '@agora/protocol/api';
import type { Policy } from '@agora/protocol/kt/policy';

export interface RelayRequest<S extends z.ZodType = z.ZodType> {
  method: 'GET' | 'POST';
  /** From the relay's base URL on, with the query string. */
  path: string;
  body?: unknown;
  /** Whether the device's bearer token goes along (the driver gets one when needed). */
  auth: boolean;
  schema: S;
}

const get = <S extends z.ZodType>(path: string, schema: S, auth = true): RelayRequest<S> => ({ method: 'GET', path, auth, schema });
const post = <S extends z.ZodType>(path: string, schema: S, body: unknown, auth = true): RelayRequest<S> => ({ method: 'POST', path, body, auth, schema });
const id = encodeURIComponent;

/** The checkpoint a device asks for under its policy: the newest its own witnesses vouch for (a
 * quorum of them), or the latest when the policy names none. */
export function witnessSelection(policy: Policy): { witnesses: string[]; quorum: number } | undefined {
  return policy.quorum > 0 ? { witnesses: policy.witnesses.map((w) => w.vkey), quorum: policy.quorum } : undefined;
}

/** The query string that asks for that checkpoint, '' or starting with '&'. */
export function witnessQuery(select: { witnesses: string[]; quorum: number } | undefined): string {
  return select ? `&quorum=${select.quorum}${select.witnesses.map((w) => `&witness=${encodeURIComponent(w)}`).join('')}` : '';
}

export const req = {
  info: () => get('/v1/info', api.InfoResponse, false),
  inviteInfo: (codeHash: string) => get(`/v1/invites/${id(codeHash)}`, api.InviteInfoResponse, false),
  register: (body: api.RegisterRequest) => post('/v1/register', api.RegisterResponse, body, false),
  challenge: (deviceId: string) => post('/v1/auth/challenge', api.ChallengeResponse, { deviceId }, false),
  token: (body: z.infer<typeof api.TokenRequest>) => post('/v1/auth/token', api.TokenResponse, body, false),
  me: () => get('/v1/me', api.MeResponse),
  directory: () => get('/v1/directory', api.DirectoryResponse),
  createInvite: (body: z.input<typeof api.CreateInviteRequest>) => post('/v1/invites', api.CreateInviteResponse, body),
  createDepartment: (name: string) => post('/v1/departments', api.Department, { name }),
  departments: () => get('/v1/departments', api.DepartmentsResponse),
  addDepartmentMember: (departmentId: string, userId: string) => post(`/v1/departments/${id(departmentId)}/members`, api.Department, { userId }),
  removeDepartmentMember: (departmentId: string, userId: string) => post(`/v1/departments/${id(departmentId)}/members/remove`, api.Department, { userId }),
  renameDepartment: (departmentId: string, name: string) => post(`/v1/departments/${id(departmentId)}/rename`, api.Department, { name }),
  deleteDepartment: (departmentId: string) => post(`/v1/departments/${id(departmentId)}/delete`, api.DeletedResponse, {}),
  renameGroup: (groupId: string, name: string) => post(`/v1/groups/${id(groupId)}/rename`, api.GroupView, { name }),
  deleteGroup: (groupId: string) => post(`/v1/groups/${id(groupId)}/delete`, api.DeletedResponse, {}),
  deactivate: (userId: string) => post(`/v1/admin/users/${id(userId)}/deactivate`, api.DeactivateResponse, {}),
  changeRole: (userId: string, body: api.ChangeRoleRequest) => post(`/v1/admin/users/${id(userId)}/role`, api.ChangeRoleResponse, body),
  createGroup: (body: z.input<typeof api.CreateGroupRequest>) => post('/v1/groups', api.GroupView, body),
  groups: () => get('/v1/groups', api.GroupsResponse),
  group: (groupId: string) => get(`/v1/groups/${id(groupId)}`, api.GroupView),
  joinGroup: (groupId: string) => post(`/v1/groups/${id(groupId)}/join`, api.GroupView, {}),
  addPublicMembers: (groupId: string, userIds: string[]) => post(`/v1/groups/${id(groupId)}/members`, api.GroupView, { userIds }),
  removePublicMembers: (groupId: string, userIds: string[]) => post(`/v1/groups/${id(groupId)}/members/remove`, api.GroupView, { userIds }),
  initSecretGroup: (groupId: string, membership: api.MembershipProof) => post(`/v1/groups/${id(groupId)}/init`, api.GroupView, { epoch: 0, membership }),
  commit: (groupId: string, body: api.CommitRequest) => post(`/v1/groups/${id(groupId)}/commits`, api.CommitResponse, body),
  appendRecord: (groupId: string, body: api.RecordRequest) => post(`/v1/groups/${id(groupId)}/records`, api.RecordResponse, body),
  log: (groupId: string, after: number, limit?: number) => get(`/v1/groups/${id(groupId)}/log?after=${after}${limit ? `&limit=${limit}` : ''}`, api.LogResponse),
  mailbox: (after: number) => get(`/v1/mailbox?after=${after}`, api.MailboxResponse),
  /** `query` selects the checkpoint as GET /v1/kt/checkpoint would ('' or starting with '&'). */
  sync: (cursor: api.SyncCursor, query: string) => get(`/v1/sync?cursor=${cursor}${query}`, api.SyncResponse),
  sendHistory: (deviceId: string, payload: string) => post('/v1/history', api.SeqResponse, { deviceId, payload }),
  uploadKeyPackages: (keyPackages: string[], lastResort?: string) =>
    post('/v1/keypackages', api.StockResponse, { keyPackages, ...(lastResort ? { lastResort } : {}) }),
  approveDevice: (deviceId: string, signature: string) => post('/v1/devices/approve', api.ApproveDeviceResponse, { deviceId, signature }),
  revokeDevice: (deviceId: string) => post(`/v1/devices/${id(deviceId)}/revoke`, api.RevokeDeviceResponse, {}),
  keyPackageStock: () => get('/v1/keypackages/stock', api.StockResponse),
  claimKeyPackages: (groupId: string, deviceIds: string[]) => post('/v1/keypackages/claim', api.ClaimKeyPackagesResponse, { groupId, deviceIds }),
  orgKeys: () => get('/v1/orgkeys', api.OrgKeysResponse),
  createGeneration: (body: z.input<typeof api.CreateGenerationRequest>) => post('/v1/orgkeys/generations', api.CreateGenerationResponse, body),
  uploadEnvelopes: (envelopes: api.Envelope[]) => post('/v1/orgkeys/envelopes', api.UploadEnvelopesResponse, { envelopes }),
  pending: () => get('/v1/orgkeys/pending', api.PendingResponse),
  refuseEnvelope: (body: api.RefuseEnvelopeRequest) => post('/v1/orgkeys/refused', api.RefuseEnvelopeResponse, body),

  // Key transparency. A device reads the log with its own token; only the policy is open to anyone.
  ktPolicy: () => get('/v1/kt/policy', api.KtPolicyResponse, false),
  ktPublishPolicy: (policy: Policy) => post('/v1/kt/policy', api.KtPublishPolicyResponse, policy),
  /** The latest checkpoint, or the largest one that `quorum` of these witnesses (their verifier
   * keys) cosigned, carrying only their cosignatures. */
  ktCheckpoint: (select?: { witnesses: string[]; quorum: number }) => get(`/v1/kt/checkpoint${witnessQuery(select).replace(/^&/, '?')}`, api.KtCheckpointResponse),
  ktEntries: (start: number, end: number) => get(`/v1/kt/entries?start=${start}&end=${end}`, api.KtEntriesResponse),
  ktInclusion: (index: number, size: number) => get(`/v1/kt/proof/inclusion?index=${index}&size=${size}`, api.KtProofResponse),
  ktConsistency: (from: number, to: number) => get(`/v1/kt/proof/consistency?from=${from}&to=${to}`, api.KtProofResponse),
  ktUser: (userId: string, size: number) => get(`/v1/kt/users/${id(userId)}?size=${size}`, api.KtUserResponse),
  /** Several people at one size (at most LIMITS.ktUsersPerRequest). */
  ktUsers: (ids: string[], size: number) => post('/v1/kt/users', api.KtUsersResponse, { ids, size } satisfies api.KtUsersRequest),
  /** A witness's cosignature of a checkpoint (sent with the witness's token). */
  ktCosign: (body: api.KtCosignatureRequest) => post('/v1/kt/cosignatures', api.KtCosignatureResponse, body),
  /** A witness or auditor signs in with its own key (no device token). */
  ktReaderChallenge: (role: api.KtReaderRole, key: string) => post('/v1/kt/auth/challenge', api.KtReaderChallengeResponse, { role, key }, false),
  ktReaderToken: (body: z.infer<typeof api.KtReaderTokenRequest>) => post('/v1/kt/auth/token', api.TokenResponse, body, false),
  /** A secret group's membership entry for `epoch`, proven at `size`. */
  ktMembership: (groupId: string, epoch: number, size: number) =>
    get(`/v1/kt/groups/${id(groupId)}/membership?epoch=${epoch}&size=${size}`, api.KtMembershipResponse),
} satisfies Record<string, (...args: never[]) => RelayRequest>;
