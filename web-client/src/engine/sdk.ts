/** The only place the app loads the SDK. It is a dynamic import so that the crypto (libsodium,
 * ts-mls) and the protocol code land in chunks of their own, fetched after the shell has painted:
 * the first screen never waits for them. Everything else imports SDK *types* only. */
import type * as Browser from '@agora/client-sdk/browser';

export type Sdk = typeof Browser;
export type AgoraClient = Browser.AgoraClient;
export type GroupSummary = Browser.GroupSummary;
export type MessageView = Browser.MessageView;
export type PassphraseDerive = Browser.PassphraseDerive;
export type Alarm = Awaited<ReturnType<AgoraClient['alarms']>>[number];

let loading: Promise<Sdk> | undefined;

export function loadSdk(): Promise<Sdk> {
  if (!loading) {
    loading = import('@agora/client-sdk/browser');
    // A failed chunk load (network gone mid-way) must be retryable, not remembered forever.
    loading.catch(() => {
      loading = undefined;
    });
  }
  return loading;
}
