/**
 * The model's entry point: one case, lowered to a Program, in the calls'
 * order (socket, setsockopts, bind, connect, then each send's own setsockopts
 * and its sendmsg; case-format.md, README "Case format extensions"), against
 * the version profile of one kernel. Pure: no I/O, no clock unless no
 * timestamp is given (timestamp fields are judged by rule anyway).
 */
import type { Program, RunInputs } from './program.js';
import type { Profile } from './profiles.js';
import type { CallResult, ExpectedPacket, ExpectedResult, PacketRules } from './result.js';
import { NET_CAPS } from './case.js';
import { isErr, type KErr } from './net/errors.js';
import { inet_bind, inet_create, ip4_datagram_connect, sendmsg, setsockopt } from './net/ipv4/af_inet.js';
import { idRule, type IdState, type WirePacket } from './net/ipv4/ip_output.js';
import type { Lab } from './net/sock.js';

/** Stand-ins for run-time values when the model predicts alone (no run to read them from). */
export const STANDIN_SPORT = 40000;
export const STANDIN_TX_IFINDEX = 2;

export interface PredictOptions {
  /** ms since 00:00 UTC to write into IP timestamp options (default: now). */
  msOfDay?: number;
}

function call(r: number | true | KErr): CallResult {
  if (isErr(r)) return { errno: r.errno, from: r.from };
  return { ret: r === true ? 0 : r };
}

/** Bytes to lowercase hex. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function packet(p: WirePacket): ExpectedPacket {
  const bytes = p.bytes;
  const rules: PacketRules = { 'ip.id': idRule(p.id, bytes), 'ip.checksum': p.userChecksum ? 'exact' : 'valid' };
  if (p.tsTimes.length) rules['ip.options.ts.time'] = [...p.tsTimes];
  return { hex: toHex(bytes), rules };
}

/**
 * Whether the sender holds capability `cap` (a NET_CAPS number) for the
 * socket calls: `program.socket.caps` lists the ones it keeps; absent or
 * null means all (root), the only case before the extension.
 */
export function hasCap(program: Program, cap: number): boolean {
  const caps = program.socket.caps ?? null;
  return caps === null || caps.includes(cap);
}

/** Throws `Unmodelled` (model/net/errors.ts) when the case uses something the model does not cover. */
export function predict(program: Program, profile: Profile, inputs?: Partial<RunInputs>, options: PredictOptions = {}): ExpectedResult {
  const txIfindex = inputs?.txIfindex ?? STANDIN_TX_IFINDEX;
  const lab: Lab = {
    profile,
    devMtu: program.net.mtu,
    routeMtu: program.net.routeMtu,
    txIfindex,
    txChecksum: program.net.txChecksum,
    gso: program.net.gso,
    txGsoUdpL4: inputs?.txGsoUdpL4 ?? profile.gsoSoftwareHasUdpL4,
    maxHeader: inputs?.maxHeader ?? null,
    sysctl: new Map(program.net.sysctl),
    capNetRaw: hasCap(program, NET_CAPS.CAP_NET_RAW),
    capNetAdmin: hasCap(program, NET_CAPS.CAP_NET_ADMIN),
    capNetBindService: hasCap(program, NET_CAPS.CAP_NET_BIND_SERVICE),
  };
  const ids: IdState = { nextGroup: 0, connectedGroup: null, msOfDay: options.msOfDay ?? Date.now() % 86_400_000 };
  const sportIn = inputs?.sport ?? program.bind?.port ?? null;
  const sport = sportIn && sportIn > 0 ? sportIn : STANDIN_SPORT;

  const result: ExpectedResult = { id: program.id, setsockopt: [], sends: [], packets: [], inputs: { sport, tx_ifindex: txIfindex, tx_gso_udp_l4: lab.txGsoUdpL4, ...(lab.maxHeader !== null ? { max_header: lab.maxHeader } : {}) } };
  const sk = inet_create(lab, program.socket);
  if (isErr(sk)) {
    result.socket = call(sk);
    return result;
  }
  const emitAll = (ps: WirePacket[]): void => {
    for (const p of ps) result.packets.push(packet(p));
  };
  for (const o of program.setsockopt) {
    const r = setsockopt(lab, sk, o.level, o.name, o.value, ids);
    result.setsockopt.push(call(r.result));
    emitAll(r.packets);
  }
  if (program.bind) result.bind = call(inet_bind(lab, sk, program.bind, sport));
  if (program.connect) result.connect = call(ip4_datagram_connect(lab, sk, program.connect, sport, ids));
  for (const s of program.sends) {
    // Extension: a send's own setsockopt calls come right before its sendmsg; their
    // results continue the socket's in result.setsockopt, and what they push
    // (UDP_CORK = 0: udp_push_pending_frames) leaves before this send's packets.
    for (const o of s.setsockoptBefore) {
      const r = setsockopt(lab, sk, o.level, o.name, o.value, ids);
      result.setsockopt.push(call(r.result));
      emitAll(r.packets);
    }
    const control = patchTxIfindex(s.control, s.txIfindexAt, txIfindex);
    const out = sendmsg(lab, sk, { to: s.to, payload: s.payload, flags: s.flags, control }, sport, ids);
    result.sends.push(call(out.result));
    emitAll(out.packets);
  }
  return result;
}

/** What the probe does before sendmsg: the tx ifindex at each `"tx"` offset (native endian). */
function patchTxIfindex(control: Uint8Array, at: number[], ifindex: number): Uint8Array {
  if (!at.length) return control;
  const c = control.slice();
  const v = new DataView(c.buffer);
  for (const off of at) v.setInt32(off, ifindex, true);
  return c;
}
