/**
 * Tests for model/profiles.ts: `profileFor(release)` picks the line and the
 * backported switches (kernel-notes §11: Debian 5.10.223, 6.1.176, 6.12.107,
 * upstream 6.18.15, live 6.18.44).
 */
import test from 'ava';
import { parseRelease, profileFor, UnknownKernelError, type Profile } from './profiles.js';

type Backported = Pick<Profile, 'udpGsoSizeCheckUsesMin' | 'connectedIdAddReturn' | 'srrNeedsCapNetRaw' | 'rawHdrinclRejectsShortIhl'>;
const backported = (p: Profile): Backported => ({
  udpGsoSizeCheckUsesMin: p.udpGsoSizeCheckUsesMin,
  connectedIdAddReturn: p.connectedIdAddReturn,
  srrNeedsCapNetRaw: p.srrNeedsCapNetRaw,
  rawHdrinclRejectsShortIhl: p.rawHdrinclRejectsShortIhl,
});
const all = (v: boolean): Backported => ({ udpGsoSizeCheckUsesMin: v, connectedIdAddReturn: v, srrNeedsCapNetRaw: v, rawHdrinclRejectsShortIhl: v });

test('profileFor 5.10.223: the 5.10 line, none of the later changes', (t) => {
  const p = profileFor('5.10.223');
  t.is(p.line, '5.10');
  t.deepEqual(p.version, [5, 10, 223]);
  t.deepEqual(backported(p), all(false));
  t.is(p.udpMaxSegments, 64);
  t.true(p.udpGsoNeedsChecksumOffload);
  t.false(p.soMarkCmsgAllowsNetRaw);
  t.false(p.pingExtEcho);
  t.true(p.subnetZeroIsBroadcast);
  t.false(p.gsoSoftwareHasUdpL4);
  t.is(p.optmemMaxDefault, 20480);
  t.is(p.timestampingTxRecordMask, 0x303);
  t.false(p.soPriorityCmsg);
});

test('profileFor 6.1.0-44-cloud-amd64: a Debian ABI name is taken as the newest known point release (6.1.176)', (t) => {
  const p = profileFor('6.1.0-44-cloud-amd64');
  t.is(p.line, '6.1');
  t.deepEqual(p.version, [6, 1, 176]);
  t.deepEqual(backported(p), all(true));
  t.is(p.udpMaxSegments, 128);
  t.true(p.udpGsoNeedsChecksumOffload);
  t.true(p.pingExtEcho);
  t.true(p.soMarkCmsgAllowsNetRaw);
  t.is(p.release, '6.1.0-44-cloud-amd64');
});

test('profileFor 6.1.150: the 6.1 line before the stable backports of 6.1.176', (t) => {
  const p = profileFor('6.1.150');
  t.is(p.line, '6.1');
  t.deepEqual(backported(p), all(false));
  t.is(p.udpMaxSegments, 128, 'not a backport: 128 on the whole 6.1 line');
  t.deepEqual(backported(profileFor('6.1.176')), all(true));
  t.deepEqual(backported(profileFor('6.1.0')), all(false), 'plain 6.1.0 is not a Debian ABI name');
});

test('profileFor 6.12.107+deb13-cloud-amd64: the 6.12 line with the backports; checksum offload not needed for GSO', (t) => {
  const p = profileFor('6.12.107+deb13-cloud-amd64');
  t.is(p.line, '6.12');
  t.deepEqual(p.version, [6, 12, 107]);
  t.deepEqual(backported(p), all(true));
  t.false(p.udpGsoNeedsChecksumOffload);
  t.is(p.optmemMaxDefault, 131072);
  t.false(p.soPriorityCmsg);
  t.is(p.timestampingTxRecordMask, 0x303);
  // connectedIdAddReturn is on from 6.12.0; the three others from 6.12.107.
  t.deepEqual(backported(profileFor('6.12.50')), { ...all(false), connectedIdAddReturn: true });
});

test('profileFor 6.18.15 vs 6.18.44: srrNeedsCapNetRaw and rawHdrinclRejectsShortIhl arrive in between', (t) => {
  const a = profileFor('6.18.15');
  const b = profileFor('6.18.44');
  t.is(a.line, '6.18');
  t.false(a.srrNeedsCapNetRaw);
  t.false(a.rawHdrinclRejectsShortIhl);
  t.true(a.udpGsoSizeCheckUsesMin);
  t.true(a.connectedIdAddReturn);
  t.true(b.srrNeedsCapNetRaw);
  t.true(b.rawHdrinclRejectsShortIhl);
  for (const p of [a, b]) {
    t.true(p.soPriorityCmsg);
    t.true(p.scmTsOptId);
    t.is(p.timestampingTxRecordMask, 0x40303);
  }
});

test('profileFor: newer minors and majors take the newest profile with every upstream change', (t) => {
  for (const release of ['6.19.2', '6.19', '7.0.0-rc1', '7.0']) {
    const p = profileFor(release);
    t.is(p.line, '6.18', release);
    t.deepEqual(backported(p), all(true), release);
  }
  t.is(profileFor('6.5.3').line, '6.1', 'between lines: the nearest modelled line below');
});

// A minor between modelled lines has a backported change only from the mainline
// release that brought it (profiles.ts UPSTREAM). 6.5 (EOL 2023) predates both changes checked here:
// - udp_send_skb's `hlen + min(datalen, gso_size) > fragsize` → EMSGSIZE is upstream
//   235174b, v6.14 (kernel-notes §3.5), so 6.5 still has `hlen + gso_size` → EINVAL;
// - ip_options_get's LSRR/SSRR CAP_NET_RAW check is 8ff85dba (CVE-2026-53249,
//   kernel-notes §6.1), never in 6.5.
// connectedIdAddReturn ("ipv4: fix data-races around inet->inet_id", 6.5) is on there.
test('profileFor 6.5.3: switches whose upstream change came after 6.5 stay off', (t) => {
  const p = profileFor('6.5.3');
  t.false(p.udpGsoSizeCheckUsesMin);
  t.false(p.srrNeedsCapNetRaw);
});

test('profileFor: a kernel older than 5.10, or no version at all → UnknownKernelError', (t) => {
  t.throws(() => profileFor('4.19.0-27-amd64'), { instanceOf: UnknownKernelError });
  t.throws(() => profileFor('5.4.0'), { instanceOf: UnknownKernelError });
  t.throws(() => profileFor('linux'), { instanceOf: UnknownKernelError });
  t.throws(() => profileFor(''), { instanceOf: UnknownKernelError });
});

test('parseRelease: MAJOR.MINOR[.PATCH] and a suffix', (t) => {
  t.deepEqual(parseRelease('6.18.44'), [6, 18, 44]);
  t.deepEqual(parseRelease('6.18'), [6, 18, 0]);
  t.deepEqual(parseRelease(' 5.10.0-30-cloud-amd64\n'), [5, 10, 223]);
  t.deepEqual(parseRelease('6.12.107+deb13-amd64'), [6, 12, 107]);
});

test('profileFor 6.5.3: connectedIdAddReturn is on from its mainline release 6.5', (t) => {
  t.true(profileFor('6.5.3').connectedIdAddReturn);
  t.false(profileFor('6.4.16').connectedIdAddReturn);
});
