/**
 * SOL_SOCKET for the send path: net/core/sock.c `__sock_cmsg_send` (control
 * messages) and `sk_setsockopt` (the options skbdiff models). Version
 * differences are profile switches (SO_MARK capability, SO_PRIORITY cmsg,
 * SCM_TS_OPT_ID, SCM_DEVMEM_DMABUF, the timestamping record mask).
 */
import { kerr, Unmodelled, type KErr } from '../errors.js';
import type { Cmsg } from '../ipv4/ip_sockglue.js';
import type { Ipcm } from '../ipv4/ip_output.js';
import type { Lab, Sock } from '../sock.js';

export const SO_DEBUG = 1;
export const SO_REUSEADDR = 2;
export const SO_DONTROUTE = 5;
export const SO_BROADCAST = 6;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_KEEPALIVE = 9;
export const SO_NO_CHECK = 11;
export const SO_PRIORITY = 12;
export const SO_REUSEPORT = 15;
export const SO_TIMESTAMP_OLD = 29;
export const SO_MARK = 36;
export const SO_TIMESTAMPING_OLD = 37;
export const SO_TXTIME = 61;
export const SO_TIMESTAMPING_NEW = 65;
export const SCM_RIGHTS = 1;
export const SCM_CREDENTIALS = 2;
export const SCM_TXTIME = SO_TXTIME;
export const SCM_DEVMEM_DMABUF = 79;
export const SCM_TS_OPT_ID = 81;
export const SOF_TIMESTAMPING_OPT_ID = 1 << 7;

const CMSG_HDR = 16;

/** `__sock_cmsg_send`: SOL_SOCKET control messages of a send. */
export function __sock_cmsg_send(lab: Lab, sk: Sock, c: Cmsg, ipc: Ipcm): true | KErr {
  const from = '__sock_cmsg_send';
  const p = lab.profile;
  switch (c.type) {
    case SO_MARK: {
      const allowed = p.soMarkCmsgAllowsNetRaw ? lab.capNetRaw || lab.capNetAdmin : lab.capNetAdmin;
      if (!allowed) return kerr('EPERM', from);
      if (c.len !== CMSG_HDR + 4) return kerr('EINVAL', from);
      ipc.mark = c.data.getUint32(0, true);
      return true;
    }
    case SO_TIMESTAMPING_OLD:
    case SO_TIMESTAMPING_NEW: {
      if (c.len !== CMSG_HDR + 4) return kerr('EINVAL', from);
      const tsflags = c.data.getUint32(0, true);
      if ((tsflags & ~p.timestampingTxRecordMask) >>> 0) return kerr('EINVAL', from);
      return true; // TX timestamps go to the error queue: nothing on the wire.
    }
    case SCM_TXTIME:
      if (!sk.txtime) return kerr('EINVAL', from);
      if (c.len !== CMSG_HDR + 8) return kerr('EINVAL', from);
      return true; // skb->tstamp: no qdisc in the lab reads it.
    case SCM_RIGHTS:
    case SCM_CREDENTIALS:
      return true; // semantically SOL_UNIX: ignored
    case SO_PRIORITY:
      if (!p.soPriorityCmsg) return kerr('EINVAL', from);
      if (c.len !== CMSG_HDR + 4) return kerr('EINVAL', from);
      {
        const val = c.data.getUint32(0, true);
        // sk_set_prio_allowed: 0..6 for anyone, else CAP_NET_RAW or CAP_NET_ADMIN.
        if (!(val <= 6 || lab.capNetRaw || lab.capNetAdmin)) return kerr('EPERM', from);
        ipc.priority = val;
      }
      return true;
    case SCM_TS_OPT_ID:
      if (!p.scmTsOptId) return kerr('EINVAL', from);
      if (!(sk.tsflags & SOF_TIMESTAMPING_OPT_ID)) return kerr('EINVAL', from);
      if (c.len !== CMSG_HDR + 4) return kerr('EINVAL', from);
      return true;
    case SCM_DEVMEM_DMABUF:
      if (!p.scmDevmemDmabuf) return kerr('EINVAL', from);
      if (c.len !== CMSG_HDR + 4) return kerr('EINVAL', from);
      throw new Unmodelled('an SCM_DEVMEM_DMABUF control message on a datagram socket');
    default:
      return kerr('EINVAL', from);
  }
}

const SOF_TXTIME_FLAGS_MASK = 3;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const CLOCK_TAI = 11;
const SOF_TIMESTAMPING_OPT_ID_TCP = 1 << 16;
const SOF_TIMESTAMPING_OPT_STATS = 1 << 12;
const SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11;
const SOF_TIMESTAMPING_BIND_PHC = 1 << 15;

/** `sock_set_timestamping`: the flags a kernel line knows, and their dependencies. */
function sock_set_timestamping(lab: Lab, sk: Sock, val: number): true | KErr {
  const from = 'sock_set_timestamping';
  if ((val & ~lab.profile.timestampingFlagsMask) >>> 0) return kerr('EINVAL', from);
  if (val & SOF_TIMESTAMPING_OPT_ID_TCP && !(val & SOF_TIMESTAMPING_OPT_ID)) return kerr('EINVAL', from);
  if (val & SOF_TIMESTAMPING_OPT_STATS && !(val & SOF_TIMESTAMPING_OPT_TSONLY)) return kerr('EINVAL', from);
  if (val & SOF_TIMESTAMPING_BIND_PHC) throw new Unmodelled('SOF_TIMESTAMPING_BIND_PHC');
  sk.tsflags = val;
  return true;
}

/** `sk_setsockopt` (net/core/sock.c) for the SOL_SOCKET options skbdiff models. */
export function sk_setsockopt(lab: Lab, sk: Sock, optname: number, optval: Uint8Array): true | KErr {
  const from = 'sk_setsockopt';
  if (optval.length < 4) return kerr('EINVAL', from);
  const v = new DataView(optval.buffer, optval.byteOffset, optval.byteLength);
  const val = v.getInt32(0, true);
  const valbool = val !== 0;
  switch (optname) {
    case SO_DEBUG:
    case SO_REUSEADDR:
    case SO_REUSEPORT:
    case SO_KEEPALIVE:
    case SO_TIMESTAMP_OLD:
      return true; // no effect on what one socket sends
    case SO_DONTROUTE:
      sk.localroute = valbool;
      return true;
    case SO_BROADCAST:
      sk.broadcast = valbool;
      return true;
    case SO_NO_CHECK:
      sk.noCheckTx = valbool;
      return true;
    case SO_PRIORITY:
      if ((val >= 0 && val <= 6) || (lab.profile.soPriorityAllowsNetRaw && lab.capNetRaw) || lab.capNetAdmin) {
        sk.priority = val;
        return true;
      }
      return kerr('EPERM', from);
    case SO_MARK: {
      const allowed = lab.profile.soMarkCmsgAllowsNetRaw ? lab.capNetRaw || lab.capNetAdmin : lab.capNetAdmin;
      if (!allowed) return kerr('EPERM', from);
      sk.mark = v.getUint32(0, true);
      return true;
    }
    case SO_TXTIME: {
      // struct sock_txtime { clockid_t clockid; __u32 flags; }
      if (optval.length !== 8) return kerr('EINVAL', from);
      const flags = v.getUint32(4, true);
      if (flags & ~SOF_TXTIME_FLAGS_MASK) return kerr('EINVAL', from);
      const clockid = v.getInt32(0, true);
      if (clockid !== CLOCK_MONOTONIC && !lab.capNetAdmin) return kerr('EPERM', from);
      // sockopt_validate_clockid
      if (lab.profile.txtimeValidatesClockid && ![CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_TAI].includes(clockid)) return kerr('EINVAL', from);
      sk.txtime = true;
      return true;
    }
    case SO_TIMESTAMPING_OLD:
    case SO_TIMESTAMPING_NEW:
      return sock_set_timestamping(lab, sk, val >>> 0);
    default:
      throw new Unmodelled(`setsockopt SOL_SOCKET option ${optname}`);
  }
}
