/**
 * IP options from user space: net/ipv4/ip_options.c `ip_options_get`,
 * `__ip_options_compile` (skb == NULL), `ip_options_build`,
 * `ip_options_fragment`. Identical in 5.10–6.18 except the LSRR/SSRR
 * capability check (`profile.srrNeedsCapNetRaw`). CIPSO: the lab has no
 * DOI, so `cipso_v4_validate` rejects every CIPSO option.
 */
import { kerr, type KErr } from '../errors.js';
import { inet_addr_type, RTN_UNICAST } from './route.js';
import type { Lab } from '../sock.js';

// The option numbers (RFC 791, include/uapi/linux/ip.h) live with the wire format.
export {
  IPOPT_EOL as IPOPT_END,
  IPOPT_NOOP,
  IPOPT_RR,
  IPOPT_TS as IPOPT_TIMESTAMP,
  IPOPT_SEC,
  IPOPT_LSRR,
  IPOPT_CIPSO,
  IPOPT_SID,
  IPOPT_SSRR,
  IPOPT_RA,
  IPOPT_TS_TSONLY,
  IPOPT_TS_TSANDADDR,
  IPOPT_TS_PRESPEC,
  IPOPT_COPIED,
} from '../../wire/ipopt.js';
import {
  IPOPT_CIPSO,
  IPOPT_COPIED,
  IPOPT_EOL as IPOPT_END,
  IPOPT_LSRR,
  IPOPT_NOOP,
  IPOPT_RA,
  IPOPT_RR,
  IPOPT_SSRR,
  IPOPT_TS as IPOPT_TIMESTAMP,
  IPOPT_TS_PRESPEC,
  IPOPT_TS_TSANDADDR,
  IPOPT_TS_TSONLY,
} from '../../wire/ipopt.js';

/**
 * `struct ip_options` after compilation. Offsets (`srr`, `rr`, `ts`) count
 * from the start of the IP header, as in the kernel (option byte 0 is at 20).
 */
export interface IpOptions {
  data: Uint8Array;
  faddr: number;
  srr: number;
  isStrictroute: boolean;
  rr: number;
  rrNeedaddr: boolean;
  ts: number;
  tsNeedaddr: boolean;
  tsNeedtime: boolean;
  routerAlert: number;
}

const IPHDR = 20;

/**
 * `ip_options_get` → `ip_options_get_finish`: pad to a multiple of 4 with
 * IPOPT_END, compile, and apply the source-route restriction.
 */
export function ip_options_get(lab: Lab, bytes: Uint8Array): IpOptions | KErr {
  let optlen = bytes.length;
  while (optlen & 3) optlen++;
  const data = new Uint8Array(optlen);
  data.set(bytes);
  const opt: IpOptions = {
    data,
    faddr: 0,
    srr: 0,
    isStrictroute: false,
    rr: 0,
    rrNeedaddr: false,
    ts: 0,
    tsNeedaddr: false,
    tsNeedtime: false,
    routerAlert: 0,
  };
  if (optlen && !__ip_options_compile(lab, opt)) return kerr('EINVAL', '__ip_options_compile');
  // "ipv4: restrict IPOPT_SSRR and IPOPT_LSRR options"
  if (lab.profile.srrNeedsCapNetRaw && opt.srr && !lab.capNetRaw) return kerr('EPERM', 'ip_options_get');
  return opt;
}

/** `__ip_options_compile` with skb == NULL (options from user space). Returns false for -EINVAL. */
function __ip_options_compile(lab: Lab, opt: IpOptions): boolean {
  const d = opt.data;
  let p = 0;
  let l = d.length;
  while (l > 0) {
    const type = d[p]!;
    if (type === IPOPT_END) {
      // Every later byte is forced to IPOPT_END.
      for (p++, l--; l > 0; p++, l--) d[p] = IPOPT_END;
      return true;
    }
    if (type === IPOPT_NOOP) {
      l--;
      p++;
      continue;
    }
    if (l < 2) return false;
    const optlen = d[p + 1]!;
    if (optlen < 2 || optlen > l) return false;
    const ptr = optlen >= 3 ? d[p + 2]! : 0;
    switch (type) {
      case IPOPT_SSRR:
      case IPOPT_LSRR:
        if (optlen < 3) return false;
        if (ptr < 4) return false;
        if (opt.srr) return false; // RFC 1812 5.2.4.1: one source route only
        if (ptr !== 4 || optlen < 7 || (optlen - 3) & 3) return false;
        // The first address is the next hop; the rest shift left.
        opt.faddr = readBe32(d, p + 3);
        if (optlen > 7) d.copyWithin(p + 3, p + 7, p + optlen);
        opt.isStrictroute = type === IPOPT_SSRR;
        opt.srr = IPHDR + p;
        break;
      case IPOPT_RR:
        if (opt.rr) return false;
        if (optlen < 3) return false;
        if (ptr < 4) return false;
        if (ptr <= optlen) {
          if (ptr + 3 > optlen) return false;
          d[p + 2] = ptr + 4;
          opt.rrNeedaddr = true;
        }
        opt.rr = IPHDR + p;
        break;
      case IPOPT_TIMESTAMP: {
        if (opt.ts) return false;
        if (optlen < 4) return false;
        if (ptr < 5) return false;
        if (ptr <= optlen) {
          if (ptr + 3 > optlen) return false;
          switch (d[p + 3]! & 0xf) {
            case IPOPT_TS_TSONLY:
              opt.tsNeedtime = true;
              d[p + 2] = ptr + 4;
              break;
            case IPOPT_TS_TSANDADDR:
              if (ptr + 7 > optlen) return false;
              opt.tsNeedaddr = true;
              opt.tsNeedtime = true;
              d[p + 2] = ptr + 8;
              break;
            case IPOPT_TS_PRESPEC: {
              if (ptr + 7 > optlen) return false;
              const addr = readBe32(d, p + ptr - 1);
              // A prespecified address that is not ours is left for its owner.
              if (inet_addr_type(lab, addr) === RTN_UNICAST) break;
              opt.tsNeedtime = true;
              d[p + 2] = ptr + 8;
              break;
            }
            default:
              if (!lab.capNetRaw) return false;
              break;
          }
        } else if ((d[p + 3]! & 0xf) !== IPOPT_TS_PRESPEC) {
          // A full option counts an overflow, which must not already be 15.
          const overflow = d[p + 3]! >> 4;
          if (overflow === 15) return false;
        }
        opt.ts = IPHDR + p;
        break;
      }
      case IPOPT_RA:
        if (optlen < 4) return false;
        if (d[p + 2] === 0 && d[p + 3] === 0) opt.routerAlert = IPHDR + p;
        break;
      case IPOPT_CIPSO:
        if (!lab.capNetRaw) return false;
        // cipso_v4_validate: a length under 8 fails, and so does every DOI, since
        // no CIPSO DOI is configured (netlabel) on a host running the lab.
        return false;
      default:
        // IPOPT_SEC, IPOPT_SID and unknown types: only with CAP_NET_RAW.
        if (!lab.capNetRaw) return false;
        break;
    }
    l -= optlen;
    p += optlen;
  }
  return true;
}

/**
 * `ip_options_build`: write the compiled options after the 20-byte header
 * and fill what the send must fill. `hdr` is the whole IP header (options
 * area included); `daddr` is `cork->addr`, the final destination under SRR.
 * Returns the header offsets of the 4-byte time fields written.
 */
export function ip_options_build(hdr: Uint8Array, opt: IpOptions, daddr: number, saddr: number, msOfDay: number): number[] {
  hdr.set(opt.data, IPHDR);
  const times: number[] = [];
  if (opt.srr) writeBe32(hdr, opt.srr + hdr[opt.srr + 1]! - 4, daddr);
  // ip_rt_get_source on an output route is iph->saddr.
  if (opt.rrNeedaddr) writeBe32(hdr, opt.rr + hdr[opt.rr + 2]! - 5, saddr);
  if (opt.tsNeedaddr) writeBe32(hdr, opt.ts + hdr[opt.ts + 2]! - 9, saddr);
  if (opt.tsNeedtime) {
    const at = opt.ts + hdr[opt.ts + 2]! - 5;
    writeBe32(hdr, at, msOfDay); // inet_current_timestamp()
    times.push(at);
  }
  return times;
}

/**
 * `ip_options_fragment`: in fragments after the first, every option without
 * the copied flag becomes NOOPs (RR and TS); the walk stops at EOL or a bad length.
 */
export function ip_options_fragment(hdr: Uint8Array, optlen: number): void {
  let p = IPHDR;
  let l = optlen;
  while (l > 0) {
    const type = hdr[p]!;
    if (type === IPOPT_END) return;
    if (type === IPOPT_NOOP) {
      l--;
      p++;
      continue;
    }
    const len = hdr[p + 1]!;
    if (len < 2 || len > l) return;
    if (!(type & IPOPT_COPIED)) hdr.fill(IPOPT_NOOP, p, p + len);
    l -= len;
    p += len;
  }
}

function readBe32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeBe32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 255;
  b[at + 2] = (v >>> 8) & 255;
  b[at + 3] = v & 255;
}
