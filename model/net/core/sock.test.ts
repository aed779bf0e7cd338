/**
 * Tests for model/net/core/sock.ts: `__sock_cmsg_send` per kernel line
 * (kernel-notes §2.4, §11) and `sk_setsockopt`. Control messages are written
 * out here by hand (x86_64 cmsghdr).
 */
import test from 'ava';
import { profileFor } from '../../profiles.js';
import { isErr, type KErr } from '../errors.js';
import { ipcm_init_sk, type Ipcm } from '../ipv4/ip_output.js';
import { for_each_cmsghdr } from '../ipv4/ip_sockglue.js';
import { newSock, type Lab, type Sock } from '../sock.js';
import { __sock_cmsg_send, sk_setsockopt } from './sock.js';
import { mkLab } from '../../testing/fixtures.js';

const int = (n: number): number[] => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255];

/** One SOL_SOCKET cmsg of `type` with `data`, run through __sock_cmsg_send. */
function scm(lab: Lab, type: number, data: number[], sk?: Sock): { r: true | KErr; ipc: Ipcm } {
  const out = new Uint8Array((16 + data.length + 7) & ~7);
  const v = new DataView(out.buffer);
  v.setUint32(0, 16 + data.length, true);
  v.setInt32(8, 1, true); // SOL_SOCKET
  v.setInt32(12, type, true);
  out.set(data, 16);
  const s = sk ?? newSock('udp', 17, lab);
  const ipc = ipcm_init_sk(lab, s);
  const [c] = for_each_cmsghdr(out);
  return { r: __sock_cmsg_send(lab, s, c!, ipc), ipc };
}
const errno = (r: true | KErr): string => (isErr(r) ? r.errno : 'ok');

const SO_PRIORITY = 12;
const SO_MARK = 36;
const SO_TIMESTAMPING_OLD = 37;
const SCM_TXTIME = 61;
const SO_TIMESTAMPING_NEW = 65;
const SCM_TS_OPT_ID = 81;
const LINES = ['5.10.223', '6.1.176', '6.12.107', '6.18.44'];

test('__sock_cmsg_send SO_MARK: 5.10 needs CAP_NET_ADMIN; 6.1+ CAP_NET_RAW or CAP_NET_ADMIN', (t) => {
  const table: Array<{ release: string; raw: boolean; admin: boolean; want: string }> = [
    { release: '5.10.223', raw: true, admin: false, want: 'EPERM' },
    { release: '5.10.223', raw: false, admin: true, want: 'ok' },
    { release: '6.1.176', raw: true, admin: false, want: 'ok' },
    { release: '6.12.107', raw: true, admin: false, want: 'ok' },
    { release: '6.18.44', raw: true, admin: false, want: 'ok' },
    { release: '6.18.44', raw: false, admin: false, want: 'EPERM' },
  ];
  for (const k of table) {
    const r = scm(mkLab(k.release, { capNetRaw: k.raw, capNetAdmin: k.admin }), SO_MARK, int(0xabcd));
    t.is(errno(r.r), k.want, `${k.release} raw=${k.raw} admin=${k.admin}`);
    if (k.want === 'ok') t.is(r.ipc.mark, 0xabcd);
  }
});

test('__sock_cmsg_send SO_MARK: the capability is checked before the length', (t) => {
  t.is(errno(scm(mkLab('6.18.44', { capNetRaw: false, capNetAdmin: false }), SO_MARK, [1]).r), 'EPERM');
  t.is(errno(scm(mkLab('6.18.44'), SO_MARK, [1]).r), 'EINVAL', 'cmsg_len 17 with the capability');
});

test('__sock_cmsg_send SO_TIMESTAMPING: flags & ~SOF_TIMESTAMPING_TX_RECORD_MASK → EINVAL; mask 0x303, 0x40303 in 6.18', (t) => {
  for (const release of LINES) {
    const lab = mkLab(release);
    for (const type of [SO_TIMESTAMPING_OLD, SO_TIMESTAMPING_NEW]) {
      t.is(errno(scm(lab, type, int(0x303)).r), 'ok', `${release} type ${type} 0x303`);
      t.is(errno(scm(lab, type, int(0x40303)).r), release.startsWith('6.18') ? 'ok' : 'EINVAL', `${release} 0x40303 (TX_COMPLETION)`);
      t.is(errno(scm(lab, type, int(1 << 18)).r), release.startsWith('6.18') ? 'ok' : 'EINVAL', `${release} TX_COMPLETION alone`);
      t.is(errno(scm(lab, type, int(0x80)).r), 'EINVAL', `${release} OPT_ID is not a record flag`);
      t.is(errno(scm(lab, type, int(0x4)).r), 'EINVAL', `${release} RX_HARDWARE`);
      t.is(errno(scm(lab, type, [1]).r), 'EINVAL', `${release} cmsg_len 17`);
    }
  }
});

test('__sock_cmsg_send SO_PRIORITY: EINVAL before 6.18; 6.18 len CMSG_LEN(4), 0..6 free, above needs a capability', (t) => {
  for (const release of ['5.10.223', '6.1.176', '6.12.107']) {
    t.is(errno(scm(mkLab(release), SO_PRIORITY, int(3)).r), 'EINVAL', release);
  }
  const r = scm(mkLab('6.18.44'), SO_PRIORITY, int(3));
  t.is(errno(r.r), 'ok');
  t.is(r.ipc.priority, 3);
  const noCap = mkLab('6.18.44', { capNetRaw: false, capNetAdmin: false });
  t.is(errno(scm(noCap, SO_PRIORITY, int(6)).r), 'ok', 'sk_set_prio_allowed: 6 is free');
  t.is(errno(scm(noCap, SO_PRIORITY, int(7)).r), 'EPERM');
  t.is(errno(scm(mkLab('6.18.44', { capNetRaw: true, capNetAdmin: false }), SO_PRIORITY, int(7)).r), 'ok');
  t.is(errno(scm(mkLab('6.18.44'), SO_PRIORITY, [3]).r), 'EINVAL', 'cmsg_len 17');
});

test('__sock_cmsg_send SCM_TS_OPT_ID: 6.18 only, and only with SOF_TIMESTAMPING_OPT_ID in sk_tsflags', (t) => {
  t.is(errno(scm(mkLab('6.12.107'), SCM_TS_OPT_ID, int(5)).r), 'EINVAL');
  const lab = mkLab('6.18.44');
  t.is(errno(scm(lab, SCM_TS_OPT_ID, int(5)).r), 'EINVAL', 'OPT_ID not set');
  const sk = newSock('udp', 17, lab);
  sk.tsflags = 1 << 7;
  t.is(errno(scm(lab, SCM_TS_OPT_ID, int(5), sk).r), 'ok');
});

test('__sock_cmsg_send SCM_TXTIME: needs SO_TXTIME, then cmsg_len CMSG_LEN(8)', (t) => {
  const lab = mkLab('6.1.176');
  t.is(errno(scm(lab, SCM_TXTIME, [0, 0, 0, 0, 0, 0, 0, 0]).r), 'EINVAL', 'SO_TXTIME not set');
  const sk = newSock('udp', 17, lab);
  sk.txtime = true;
  t.is(errno(scm(lab, SCM_TXTIME, [0, 0, 0, 0, 0, 0, 0, 0], sk).r), 'ok');
  t.is(errno(scm(lab, SCM_TXTIME, int(0), sk).r), 'EINVAL', 'cmsg_len 20');
});

test('__sock_cmsg_send SCM_RIGHTS / SCM_CREDENTIALS: accepted and ignored, no length check', (t) => {
  for (const release of LINES) {
    t.is(errno(scm(mkLab(release), 1, []).r), 'ok', `${release} SCM_RIGHTS empty`);
    t.is(errno(scm(mkLab(release), 2, [1, 2, 3]).r), 'ok', `${release} SCM_CREDENTIALS 3 bytes`);
  }
});

test('__sock_cmsg_send: anything else → EINVAL (default case)', (t) => {
  for (const release of LINES) {
    for (const type of [0, 3, 6 /* SO_BROADCAST */, 11 /* SO_NO_CHECK */, 99]) {
      t.is(errno(scm(mkLab(release), type, int(1)).r), 'EINVAL', `${release} type ${type}`);
    }
  }
});

// ---------------------------------------------------------------------------
// sk_setsockopt (net/core/sock.c)

function so(lab: Lab, name: number, val: number[], sk = newSock('udp', 17, lab)): { r: true | KErr; sk: Sock } {
  return { r: sk_setsockopt(lab, sk, name, Uint8Array.from(val)), sk };
}

test('sk_setsockopt: optlen < sizeof(int) → EINVAL', (t) => {
  t.is(errno(so(mkLab('6.1.176'), 6, [1]).r), 'EINVAL');
});

test('sk_setsockopt: SO_NO_CHECK, SO_BROADCAST, SO_DONTROUTE set their flags', (t) => {
  const lab = mkLab('6.1.176');
  t.true(so(lab, 11, int(1)).sk.noCheckTx);
  t.true(so(lab, 6, int(1)).sk.broadcast);
  t.true(so(lab, 5, int(2)).sk.localroute, 'any nonzero int is true');
  t.false(so(lab, 6, int(0)).sk.broadcast);
});

test('sk_setsockopt SO_PRIORITY: 0..6 free, else CAP_NET_RAW/CAP_NET_ADMIN', (t) => {
  const noCap = mkLab('6.1.176', { capNetRaw: false, capNetAdmin: false });
  t.is(so(noCap, SO_PRIORITY, int(6)).sk.priority, 6);
  t.is(errno(so(noCap, SO_PRIORITY, int(7)).r), 'EPERM');
  t.is(so(mkLab('6.1.176'), SO_PRIORITY, int(7)).sk.priority, 7);
});

test('sk_setsockopt SO_MARK: same capability rule as the cmsg per line', (t) => {
  t.is(errno(so(mkLab('5.10.223', { capNetAdmin: false }), SO_MARK, int(1)).r), 'EPERM');
  t.is(so(mkLab('6.1.176', { capNetAdmin: false }), SO_MARK, int(0x10)).sk.mark, 0x10);
});

test('sk_setsockopt SO_TXTIME: 6.12+ sockopt_validate_clockid allows REALTIME, MONOTONIC and TAI only; 6.1 takes any clock', (t) => {
  const txtime = (clockid: number): Uint8Array => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setInt32(0, clockid, true);
    return b;
  };
  for (const [release, clock, want] of [
    ['6.12.107', 11, 'ok'],
    ['6.12.107', 0, 'ok'],
    ['6.12.107', 4, 'EINVAL'],
    ['6.18.44', 7, 'EINVAL'],
    ['6.1.176', 4, 'ok'],
  ] as const) {
    const lab = mkLab(release);
    const r = sk_setsockopt(lab, newSock('udp', 17, lab), 61, txtime(clock));
    t.is(isErr(r) ? r.errno : 'ok', want, `${release} clockid ${clock}`);
  }
});

test('sk_setsockopt SO_PRIORITY above 6: CAP_NET_ADMIN on 5.10 (sock.c ns_capable), CAP_NET_RAW or CAP_NET_ADMIN from 6.1', (t) => {
  const prio7 = Uint8Array.from([7, 0, 0, 0]);
  for (const [release, want] of [['5.10.223', 'EPERM'], ['6.1.176', 'ok'], ['6.18.44', 'ok']] as const) {
    const lab = mkLab(release, { capNetRaw: true, capNetAdmin: false });
    const r = sk_setsockopt(lab, newSock('udp', 17, lab), 12, prio7);
    t.is(isErr(r) ? r.errno : 'ok', want, release);
  }
});
