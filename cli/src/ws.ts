/** Pushes on Node 20, which has no WebSocket of its own: the `ws` package, kept in the CLI so the SDK
 * ships none. */
import WebSocket from 'ws';
import type { WebSocketFactory, WebSocketLike } from '@agora/client-sdk';

export const wsFactory: WebSocketFactory = (url, protocols) => new WebSocket(url, protocols) as unknown as WebSocketLike;
