/** Agora client SDK: the isomorphic core (protocol, crypto, MLS, client state machine). Node
 * adapters live in `@agora/client-sdk/node`; browser adapters come with the web app. */
export * from './protocol/index.js';
export { AgoraClient, type ClientDeps, type GroupSummary, type MessageView, type SyncReport, type WebSocketFactory, type WebSocketLike } from './client.js';
export { AgoraError, type ClientErrorCode } from './core/errors.js';
export { EncryptedProfile, type BlobStore, type ProfileStorage } from './state/profile.js';
export { RelayHttp, type FetchLike } from './transport/http.js';
