/** `node server/dist/main.js`: runs the relay configured from the environment.
 * PORT (8080), HOST (127.0.0.1), DATA_DIR (./data), MONGODB_URI (optional), ORG_NAME (Agora),
 * WEB_DIR (the web app's build; default web-client/dist of this checkout; "none" serves only the API). */
import { DEFAULT_WEB_DIR, startRelay } from './relay.js';

function portFrom(value: string | undefined): number {
  if (value === undefined || value === '') return 8080;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('PORT must be an integer from 0 to 65535');
  return port;
}

async function main(): Promise<void> {
  // Whatever this process creates is its own: a file some library creates without an explicit mode
  // must not come out readable by other local users. The store sets 0600 on its files itself.
  process.umask(0o077);
  const relay = await startRelay({
    port: portFrom(process.env.PORT),
    host: process.env.HOST || '127.0.0.1',
    dataDir: process.env.DATA_DIR || './data',
    mongoUri: process.env.MONGODB_URI || undefined,
    orgName: process.env.ORG_NAME || 'Agora',
    webDir: process.env.WEB_DIR === 'none' ? undefined : process.env.WEB_DIR || DEFAULT_WEB_DIR,
  });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal means "now".
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal} received, shutting down`);
    relay.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`relay failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
