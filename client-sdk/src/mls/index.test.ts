import { generateDeviceKeys } from '@agora/protocol/crypto/device-keys';
import { newId } from '@agora/protocol/encoding';
import { createGroup, groupInfo, loadMls, MlsCheckError, processCommit, stageCommit } from './index.js';

describe('the lazily loaded MLS layer', () => {
  it('refuses a synchronous read before the module is loaded, and loads it once', async () => {
    // A state from storage in a fresh process: reading it must not silently work on half a module.
    expect(() => groupInfo(new Uint8Array([1, 2, 3]))).toThrow(/await loadMls\(\)/);
    const [a, b] = await Promise.all([loadMls(), loadMls()]);
    expect(a).toBe(b);
    expect(a).toBe(await loadMls());
  });

  it('runs the MLS API through the seam, with the errors ingest tests for', async () => {
    const keys = await generateDeviceKeys();
    const id = { userId: newId('u'), deviceId: newId('d'), signPub: keys.signPub, signSeed: keys.signSeed };
    const state = await createGroup(newId('g'), id);
    expect(groupInfo(state)).toMatchObject({ epoch: 0, ownDeviceId: id.deviceId });
    const lookup = (deviceId: string) => (deviceId === id.deviceId ? { userId: id.userId, signPub: id.signPub } : undefined);
    const staged = await stageCommit(state, { update: true }, lookup);
    expect(groupInfo(staged.staged).epoch).toBe(1);
    // The implementation throws its MlsCheckError; callers of the seam must recognise it as theirs.
    const refused = await processCommit(state, staged.commit, { added: [], removed: [] }, lookup).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MlsCheckError);
    expect((refused as MlsCheckError).code).toBe('invalid');
  });
});
