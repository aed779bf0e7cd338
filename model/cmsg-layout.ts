/**
 * The msg_control buffer on x86_64 (include/linux/socket.h,
 * include/uapi/linux/socket.h): `struct cmsghdr { size_t cmsg_len; int
 * cmsg_level; int cmsg_type; }` is 16 bytes, every header starts at a
 * multiple of sizeof(long) = 8. Compat (32-bit) layout is not covered.
 *
 * Two directions: `layoutControl` writes the buffer a case describes
 * (case-format.md, "A send"), `for_each_cmsghdr` walks one the way the kernel
 * does, for the model's control-message parsers.
 */

/** sizeof(struct cmsghdr) on x86_64. */
export const SIZEOF_CMSGHDR = 16;

/** CMSG_ALIGN: round up to a multiple of sizeof(long). */
export function CMSG_ALIGN(len: number): number {
  return Math.ceil(len / 8) * 8;
}

/** CMSG_LEN: the cmsg_len of a message with `len` data bytes. */
export function CMSG_LEN(len: number): number {
  return CMSG_ALIGN(SIZEOF_CMSGHDR) + len;
}

/** CMSG_SPACE: the bytes a message with `len` data bytes takes in the buffer, padding included. */
export function CMSG_SPACE(len: number): number {
  return CMSG_ALIGN(SIZEOF_CMSGHDR) + CMSG_ALIGN(len);
}

/** One control message to lay out. */
export interface CmsgInput {
  level: number;
  type: number;
  data: Uint8Array;
  /** Written into the header instead of CMSG_LEN(data.length); the layout ignores it. */
  cmsgLen?: number;
  /** Offsets within `data` of 4-byte ifindex fields the probe fills in (written as 0 here). */
  txIfindexAt?: readonly number[];
}

export interface ControlLayout {
  /** The buffer; msg_controllen = control.length = the sum of CMSG_SPACE of each data length. */
  control: Uint8Array;
  /** Offset of each message's header, in input order. */
  headerAt: number[];
  /** Offsets in `control` of the tx ifindex fields of every message. */
  txIfindexAt: number[];
}

/**
 * Lays out control messages as a sender does with CMSG_FIRSTHDR/CMSG_NXTHDR:
 * each at the previous one's offset + CMSG_SPACE, header then data, padding
 * zero. `cmsgLen` overrides only the header's length field.
 */
export function layoutControl(cmsgs: readonly CmsgInput[]): ControlLayout {
  const total = cmsgs.reduce((n, c) => n + CMSG_SPACE(c.data.length), 0);
  const control = new Uint8Array(total);
  const view = new DataView(control.buffer);
  const headerAt: number[] = [];
  const txIfindexAt: number[] = [];
  let at = 0;
  for (const c of cmsgs) {
    headerAt.push(at);
    view.setBigUint64(at, BigInt(c.cmsgLen ?? CMSG_LEN(c.data.length)), true);
    view.setInt32(at + 8, c.level, true);
    view.setInt32(at + 12, c.type, true);
    control.set(c.data, at + SIZEOF_CMSGHDR);
    for (const off of c.txIfindexAt ?? []) txIfindexAt.push(at + SIZEOF_CMSGHDR + off);
    at += CMSG_SPACE(c.data.length);
  }
  return { control, headerAt, txIfindexAt };
}

/** A header as the kernel reads it from the buffer. */
export interface Cmsghdr {
  /** Offset of the header in the buffer. */
  offset: number;
  /** The header's cmsg_len (above 2^53 it loses precision, but stays above any buffer length). */
  cmsg_len: number;
  cmsg_level: number;
  cmsg_type: number;
}

/**
 * for_each_cmsghdr (include/linux/socket.h, all versions): CMSG_FIRSTHDR is
 * null when the buffer is shorter than a header; __cmsg_nxthdr steps by
 * CMSG_ALIGN(cmsg_len) and stops when a whole header no longer fits. The
 * walk itself never fails: every kernel parser checks CMSG_OK on each header
 * it is given (see `CMSG_OK`), and stops the walk with EINVAL when it fails.
 */
export function* for_each_cmsghdr(control: Uint8Array): Generator<Cmsghdr> {
  const view = new DataView(control.buffer, control.byteOffset, control.byteLength);
  let at = 0;
  while (at + SIZEOF_CMSGHDR <= control.length) {
    const len = view.getBigUint64(at, true);
    yield {
      offset: at,
      cmsg_len: Number(len),
      cmsg_level: view.getInt32(at + 8, true),
      cmsg_type: view.getInt32(at + 12, true),
    };
    const next = BigInt(at) + ((len + 7n) & ~7n);
    if (next + BigInt(SIZEOF_CMSGHDR) > BigInt(control.length)) return;
    // cmsg_len 0..7 would make the kernel revisit this header forever; every
    // kernel parser rejects it first (CMSG_OK), so end the walk instead.
    if (next === BigInt(at)) return;
    at = Number(next);
  }
}

/**
 * CMSG_OK (include/linux/socket.h): the header's length covers at least the
 * header and stays inside the buffer (`msg_controllen` minus its offset).
 */
export function CMSG_OK(control: Uint8Array, h: Cmsghdr): boolean {
  return h.cmsg_len >= SIZEOF_CMSGHDR && h.cmsg_len <= control.length - h.offset;
}

/** CMSG_DATA's bytes for a header that passed CMSG_OK: cmsg_len - 16 bytes after the header. */
export function cmsgData(control: Uint8Array, h: Cmsghdr): Uint8Array {
  return control.subarray(h.offset + SIZEOF_CMSGHDR, h.offset + h.cmsg_len);
}
