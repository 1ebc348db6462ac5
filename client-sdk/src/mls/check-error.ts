/** The MLS layer's refusal, in a module of its own without ts-mls: callers test `instanceof
 * MlsCheckError` without loading the lazily imported MLS implementation (see index.ts). */
export type MlsCheckCode = 'bad_key_package' | 'declaration_mismatch' | 'unknown_device' | 'wrong_epoch' | 'invalid';

export class MlsCheckError extends Error {
  constructor(
    readonly code: MlsCheckCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MlsCheckError';
  }
}
