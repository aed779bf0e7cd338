/**
 * IPv4 options (RFC 791 §3.1; timestamp RFC 781; router alert RFC 2113):
 * read through an iterator, as gVisor `header.IPv4OptionIterator`.
 *
 *     single byte:   | type |                        EOL (0), NOOP (1)
 *     others:        | type | len | data ...         len counts type and len
 *     RR, LSRR, SSRR | type | len | ptr | addr 1 | addr 2 | ...
 *     TS             | type | len | ptr | oflw|flg | [addr] time | ...
 *
 * The pointer is 1-based from the option's first byte; a slot is filled when
 * it lies before the pointer. The iterator never throws: it names the bytes of
 * whatever a kernel sent, malformed or not (compare `ip_options_fragment`,
 * which also stops at a bad length).
 */

export const IPOPT_EOL = 0;
export const IPOPT_NOOP = 1;
export const IPOPT_RR = 7;
export const IPOPT_TS = 68;
export const IPOPT_SEC = 130;
export const IPOPT_LSRR = 131;
export const IPOPT_CIPSO = 134;
export const IPOPT_SID = 136;
export const IPOPT_SSRR = 137;
export const IPOPT_RA = 148;
/** The "copied" bit: the option is repeated in every fragment (`IPOPT_COPIED`). */
export const IPOPT_COPIED = 0x80;

/** TS flags (RFC 781, `IPOPT_TS_*`). */
export const IPOPT_TS_TSONLY = 0;
export const IPOPT_TS_TSANDADDR = 1;
export const IPOPT_TS_PRESPEC = 3;

/** Smallest pointer value: RR/SRR 4, TS 5 (`IPOPT_MINOFF` and the TS check in `__ip_options_compile`). */
export const IPOPT_MINOFF = 4;

export type OptionName = 'EOL' | 'NOOP' | 'RR' | 'TS' | 'LSRR' | 'SSRR' | 'RA' | 'SEC' | 'CIPSO' | 'SID' | 'unknown';

const NAMES: Record<number, OptionName> = {
  [IPOPT_EOL]: 'EOL',
  [IPOPT_NOOP]: 'NOOP',
  [IPOPT_RR]: 'RR',
  [IPOPT_TS]: 'TS',
  [IPOPT_LSRR]: 'LSRR',
  [IPOPT_SSRR]: 'SSRR',
  [IPOPT_RA]: 'RA',
  [IPOPT_SEC]: 'SEC',
  [IPOPT_CIPSO]: 'CIPSO',
  [IPOPT_SID]: 'SID',
};

export function optionName(type: number): OptionName {
  return NAMES[type] ?? 'unknown';
}

/** A 4-byte address or time slot of RR, LSRR, SSRR or TS. */
export interface OptionSlot {
  kind: 'addr' | 'time';
  /** Which entry (0-based): TS with addresses numbers its addr/time pairs together. */
  entry: number;
  /** Absolute byte offset in the buffer given to `ipOptions`. */
  offset: number;
  /** The pointer has moved past it (it holds recorded data). */
  filled: boolean;
}

export interface IpOption {
  /** Position in the option list (0-based). */
  index: number;
  /** Absolute byte offset of the type byte in the buffer given to `ipOptions`. */
  offset: number;
  type: number;
  name: OptionName;
  /**
   * Bytes this option occupies in the walk. For a well-formed option the
   * length byte (1 for NOOP); EOL takes the rest of the area (its padding);
   * a malformed option (`malformed` set) takes the rest of the area too.
   */
  len: number;
  /** The length byte as sent (absent for EOL, NOOP, and a type byte with nothing after it). */
  lenField?: number;
  pointer?: number;
  /** TS: low nibble of byte 3. */
  flags?: number;
  /** TS: high nibble of byte 3. */
  overflow?: number;
  slots?: OptionSlot[];
  /** Why the walk could not use the length byte; the walk ends with this option. */
  malformed?: string;
}

/**
 * Walk the options in `bytes[start, end)` (normally the packet, 20, ihl*4).
 * Yields every option, ending with EOL (which owns the padding after it) or
 * with a malformed option that owns the rest.
 */
export function* ipOptions(bytes: Uint8Array, start = 0, end = bytes.length): Generator<IpOption> {
  const stop = Math.min(end, bytes.length);
  let off = start;
  let index = 0;
  while (off < stop) {
    const type = bytes[off]!;
    const name = optionName(type);
    const rest = stop - off;
    if (type === IPOPT_EOL) {
      yield { index, offset: off, type, name, len: rest };
      return;
    }
    if (type === IPOPT_NOOP) {
      yield { index: index++, offset: off, type, name, len: 1 };
      off += 1;
      continue;
    }
    if (rest < 2) {
      yield { index, offset: off, type, name, len: rest, malformed: 'no length byte' };
      return;
    }
    const lenField = bytes[off + 1]!;
    if (lenField < 2 || lenField > rest) {
      const why = lenField < 2 ? `length ${lenField} is below 2` : `length ${lenField} runs past the options (${rest} bytes left)`;
      yield { index, offset: off, type, name, len: rest, lenField, malformed: why };
      return;
    }
    yield describe(bytes, index++, off, type, name, lenField);
    off += lenField;
  }
}

function describe(bytes: Uint8Array, index: number, off: number, type: number, name: OptionName, len: number): IpOption {
  const opt: IpOption = { index, offset: off, type, name, len, lenField: len };
  const routeLike = type === IPOPT_RR || type === IPOPT_LSRR || type === IPOPT_SSRR;
  if ((routeLike || type === IPOPT_TS) && len >= 3) opt.pointer = bytes[off + 2]!;
  if (routeLike) {
    opt.slots = [];
    for (let at = 3, entry = 0; at + 4 <= len; at += 4, entry++) {
      opt.slots.push({ kind: 'addr', entry, offset: off + at, filled: at + 1 < opt.pointer! });
    }
  } else if (type === IPOPT_TS && len >= 4) {
    opt.overflow = bytes[off + 3]! >> 4;
    opt.flags = bytes[off + 3]! & 0x0f;
    const withAddr = opt.flags === IPOPT_TS_TSANDADDR || opt.flags === IPOPT_TS_PRESPEC;
    if (opt.flags === IPOPT_TS_TSONLY || withAddr) {
      opt.slots = [];
      const step = withAddr ? 8 : 4;
      for (let at = 4, entry = 0; at + step <= len; at += step, entry++) {
        const filled = at + 1 < opt.pointer!;
        if (withAddr) opt.slots.push({ kind: 'addr', entry, offset: off + at, filled });
        opt.slots.push({ kind: 'time', entry, offset: off + at + step - 4, filled });
      }
    }
  }
  return opt;
}
