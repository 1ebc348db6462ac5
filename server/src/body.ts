/** Reads a JSON request body with a hard size limit. Written by hand rather than with a body
 * parser so the limit is enforced while reading: the relay stops at the first byte over the
 * limit instead of buffering whatever a client chooses to send. */
import type { Context } from 'koa';
import { AppError } from './errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

export async function readJson(ctx: Context, limit: number): Promise<unknown> {
  const type = ctx.request.is('application/json');
  if (type === null) throw new AppError('bad_request', 'a JSON body is required');
  if (type === false) throw new AppError('bad_request', 'content-type must be application/json');
  const encoding = ctx.get('content-encoding');
  if (encoding && encoding.toLowerCase() !== 'identity') {
    throw new AppError('bad_request', 'content-encoding is not supported');
  }
  const declared = ctx.get('content-length');
  if (declared && Number(declared) > limit) {
    // The connection still carries the unread body; closing it is cheaper than draining it.
    ctx.set('Connection', 'close');
    throw new AppError('body_too_large', `body exceeds ${limit} bytes`);
  }
  const raw = await readRaw(ctx, limit);
  let text: string;
  try {
    text = decoder.decode(raw);
  } catch {
    throw new AppError('bad_request', 'body is not valid UTF-8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError('bad_request', 'malformed JSON');
  }
}

function readRaw(ctx: Context, limit: number): Promise<Uint8Array> {
  const req = ctx.req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        ctx.set('Connection', 'close');
        reject(new AppError('body_too_large', `body exceeds ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new AppError('bad_request', `request body could not be read (${err.name})`));
    };
    const onAborted = () => {
      cleanup();
      reject(new AppError('bad_request', 'request aborted'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}
