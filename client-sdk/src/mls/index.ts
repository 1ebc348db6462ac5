/** The MLS layer as the rest of the SDK reaches it. ts-mls (and libsodium behind the provider) is
 * imported on first use, so a browser app's first chunk carries neither and pays for them only
 * when a secret group is touched. Code outside mls/ imports from here, never from group.ts.
 *
 * The asynchronous functions load the implementation themselves. The synchronous groupInfo needs
 * it loaded already: that holds for any state an asynchronous function returned, and a caller
 * holding group states from storage awaits loadMls() first. */
import { loadCryptoProvider, type CryptoProvider } from '@agora/protocol/crypto/provider';
import type { RandomSource } from '@agora/protocol/crypto/random';
import type * as Group from './group.js';

export type {
  DeviceLookup, MemberInfo, MlsApi, MlsGroupInfo, MlsIdentity, ProcessedCommit, StagedCommit, StoredKeyPackage,
} from './group.js';
export { MlsCheckError, type MlsCheckCode } from './check-error.js';

type MlsModule = typeof Group;

let loaded: MlsModule | undefined;
let loading: Promise<MlsModule> | undefined;

export function loadMls(): Promise<MlsModule> {
  if (loaded) return Promise.resolve(loaded);
  // The module's synchronous functions (keyPackageRef, groupInfo) hash with the crypto provider, so
  // it is loaded with them.
  loading ??= Promise.all([import('./group.js'), loadCryptoProvider()]).then(
    ([mod]) => (loaded = mod),
    (error: unknown) => {
      // Let a later call retry (e.g. a chunk that failed to download on a bad mobile connection).
      loading = undefined;
      throw error;
    },
  );
  return loading;
}

function loadedMls(): MlsModule {
  if (!loaded) throw new Error('the MLS module is not loaded yet: await loadMls() before reading a stored group state');
  return loaded;
}

export const createKeyPackages: MlsModule['createKeyPackages'] = async (...a) => (await loadMls()).createKeyPackages(...a);
export const checkKeyPackage: MlsModule['checkKeyPackage'] = async (...a) => (await loadMls()).checkKeyPackage(...a);
export const createGroup: MlsModule['createGroup'] = async (...a) => (await loadMls()).createGroup(...a);
export const stageCommit: MlsModule['stageCommit'] = async (...a) => (await loadMls()).stageCommit(...a);
export const processCommit: MlsModule['processCommit'] = async (...a) => (await loadMls()).processCommit(...a);
export const joinFromWelcome: MlsModule['joinFromWelcome'] = async (...a) => (await loadMls()).joinFromWelcome(...a);
export const exportContentKey: MlsModule['exportContentKey'] = async (...a) => (await loadMls()).exportContentKey(...a);
export const membershipSalt: MlsModule['membershipSalt'] = async (...a) => (await loadMls()).membershipSalt(...a);
export const membershipInputs: MlsModule['membershipInputs'] = async (...a) => (await loadMls()).membershipInputs(...a);

const apis = new WeakMap<RandomSource | CryptoProvider, Promise<Group.MlsApi>>();

/** The MLS API over a client machine's crypto provider (MachineConfig.crypto), or over the provider
 * with randomness `source`: either way every random byte comes from the machine's injected source. */
export function mlsWith(source: RandomSource | CryptoProvider): Promise<Group.MlsApi> {
  let api = apis.get(source);
  if (!api) {
    api = loadMls().then(
      (mod) => mod.makeMls(mod.agoraCryptoProviderWith(source)),
      (error: unknown) => {
        apis.delete(source);
        throw error;
      },
    );
    apis.set(source, api);
  }
  return api;
}

export const groupInfo: MlsModule['groupInfo'] = (state) => loadedMls().groupInfo(state);
