import { engine, RelayHttp, type FetchLike } from '@agora/client-sdk';
import { nodeProfile } from '@agora/client-sdk/node';

/** Posts `text` to `group` as the device whose profile is in `profileDir`; returns what was new. */
export async function postNotice(profileDir: string, passphrase: string, group: string, text: string, fetch: FetchLike) {
  const storage = nodeProfile({ profileDir, passphrase });
  const release = await storage.lock();
  try {
    const state = await storage.load();
    await engine.loadMlsFor(state);
    const mc = new engine.Machine(Date.now, {}, state);
    mc.begin();
    // The driver: a request goes to the relay, "persist" to storage; the token is the machine's to get.
    const perform: engine.Perform = async (e) => (e.kind === 'persist' ? storage.save(mc.state) : http.perform(e.request));
    const http = new RelayHttp(state.server, fetch, (fresh) => engine.drive(engine.ensureToken(mc, fresh), perform));
    try {
      const report = await engine.drive(engine.sync(mc), perform);
      const sent = await engine.drive(engine.sendText(mc, group, text), perform);
      return { newMessages: report.newMessages.map((m) => m.message.text), seq: sent.seq };
    } finally {
      await storage.save(mc.state);
    }
  } finally {
    await release();
  }
}
