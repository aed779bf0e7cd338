/**
 * A fault in bytes handed to a wire parser: truncated, or not the format it
 * claims to be. A harness fault, not a kernel verdict, so it is an exception
 * whose message shows the bytes in hex (as `@msgpack/msgpack` DecodeError with
 * `prettyByte`).
 */

/** Bytes shown in full in an error message; longer buffers are elided. */
const SHOWN = 64;

export class WireError extends Error {
  override name = 'WireError';
  readonly bytes: Uint8Array;
  /** Byte offset the parser stopped at, when it is known. */
  readonly at: number | undefined;

  constructor(what: string, bytes: Uint8Array, at?: number) {
    super(`${what} (${bytes.length} bytes${at === undefined ? '' : `, at offset ${at}`}): ${prettyBytes(bytes)}`);
    this.bytes = bytes;
    this.at = at;
  }
}

/** Space-separated hex of the first 64 bytes, then a count of the rest. */
export function prettyBytes(bytes: Uint8Array): string {
  const shown = toHex(bytes.subarray(0, SHOWN)).replace(/(..)(?!$)/g, '$1 ');
  return bytes.length > SHOWN ? `${shown} ...(+${bytes.length - SHOWN} bytes)` : shown;
}

/** Lower-case hex, no separators (the result format's `hex`). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict inverse of `toHex`: whitespace is allowed between bytes, anything else non-hex throws. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new Error(`not a hex byte string: ${JSON.stringify(hex.length > 80 ? hex.slice(0, 80) + '...' : hex)}`);
  }
  return new Uint8Array(Buffer.from(clean, 'hex'));
}
