// The key-transparency functions are synchronous and take the loaded crypto provider (libsodium,
// WebAssembly, loaded asynchronously once); every entry point of the product awaits it first, and so
// does every test file, here.
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';

await loadCryptoProvider();
