/** Agora client SDK: the isomorphic core (protocol, crypto, MLS, client state machine). Node
 * adapters live in `@agora/client-sdk/node`, browser ones in `@agora/client-sdk/browser`; the `agora`
 * command line is its own workspace (cli/). */
export * from '@agora/protocol';
export { AgoraClient, type ClientDeps, type GroupSummary, type MessageView, type SyncReport, type WebSocketFactory, type WebSocketLike } from './client.js';
export { AgoraError, type ClientErrorCode } from './core/errors.js';
export { EncryptedProfile, type BlobStore, type ProfileStorage } from './state/profile.js';
export { StoreProfile, type StoreProfileOptions, type SaveStats } from './state/store-profile.js';
export { RECORDS_VERSION } from './state/records.js';
export { RelayHttp, type FetchLike } from './transport/http.js';
export { KtHttp, readerKtHttp } from './transport/kt-http.js';
export { auditWebApp, type WebAppAudit } from './transport/web-app.js';
export { runOfficerAudit, parseAuditorKeyFile, parsePolicyFile, AuditSinceSchema, type OfficerAudit, type WitnessView, type AuditReport, type AuditSince } from './officer.js';
/** The client machine itself, for an app or script that drives it with its own driver (docs/sdk.md). */
export * as engine from './engine/index.js';
