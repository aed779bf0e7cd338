/**
 * The result format of case-format.md ("One result"), extended with the
 * comparison rules the model attaches to fields that a correct kernel may fill
 * differently on every run. Outcomes are data; exceptions are harness faults.
 */

/** A syscall's outcome: its return value, or an errno name and the model function that chose it. */
export type CallResult = { ret: number } | { errno: string; from?: string };

/**
 * How the IPv4 identification field is judged (case-format.md, "Comparing"):
 * - `zero`: must be 0 (DF with ignore_df clear, `__ip_select_ident` not called);
 * - `exact`: must equal the predicted bytes (a raw header's own nonzero ID);
 * - `sequence`: opaque base per `group`; this packet's ID = base + `plus` (mod 2^16).
 *   Fragments of one datagram share group and plus; a connected socket's
 *   datagrams and GSO segments count up within one group.
 */
export type IdRule = { rule: 'zero' } | { rule: 'exact' } | { rule: 'sequence'; group: number; plus: number };

export interface PacketRules {
  'ip.id': IdRule;
  /**
   * `valid`: the IPv4 header checksum must verify over the bytes sent; `exact`:
   * the kernel sends a checksum it did not compute (a raw header with ihl < 5
   * goes out untouched), so it is compared byte for byte like any field.
   */
  'ip.checksum': 'valid' | 'exact';
  /** Byte offsets (from the IPv4 header) of IP timestamp-option time fields: plausible current time. */
  'ip.options.ts.time'?: number[];
}

export interface ExpectedPacket {
  hex: string;
  rules: PacketRules;
}

export interface ObservedPacket {
  hex: string;
}

export interface Result<P = ExpectedPacket | ObservedPacket> {
  id: string;
  /** Present only when socket() failed: the case ends there. */
  socket?: CallResult;
  setsockopt: CallResult[];
  bind?: CallResult;
  connect?: CallResult;
  sends: CallResult[];
  packets: P[];
  /** Run-time values the prediction used (or the run observed); see program.ts RunInputs. */
  inputs?: { sport?: number | null; tx_ifindex?: number; tx_gso_udp_l4?: boolean; max_header?: number };
}

export type ExpectedResult = Result<ExpectedPacket>;
export type ObservedResult = Result<ObservedPacket>;

export function ok(ret: number): CallResult {
  return { ret };
}

export function fail(errno: string, from: string): CallResult {
  return { errno, from };
}
