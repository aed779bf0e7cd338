import test from 'ava';
import { existsSync } from 'node:fs';
import type { Case } from '../model/case.js';
import { lower } from '../model/lower.js';
import { predict } from '../model/predict.js';
import { profileFor } from '../model/profiles.js';
import { diffCase } from './diff.js';
import { candidates, findingKey, isValidCase, minimize, stillDiffers } from './minimize.js';
import { defaultProbePath, NetnsTarget } from './targets/netns.js';

const udp = (sends: Case['sends'], extra: Partial<Case> = {}): Case => ({
  format: 'skbdiff-case/1',
  id: 'big',
  about: 'a big case',
  net: { mtu: 1400, route_mtu: 1300, sysctl: { 'net.ipv4.ip_default_ttl': 9, 'net.ipv4.ip_no_pmtu_disc': 1 }, offload: { tx_checksum: true, gso: false } },
  socket: {
    type: 'dgram',
    protocol: 'udp',
    bind: { addr: '198.18.0.1', port: 40000 },
    connect: { addr: '198.18.0.2', port: 7000 },
    setsockopt: [
      { level: 'SOL_IP', name: 'IP_TOS', value: { int: 16 } },
      { level: 'SOL_IP', name: 'IP_MTU_DISCOVER', value: { int: 2 } },
      { level: 'SOL_IP', name: 'IP_OPTIONS', value: { hex: '01010101' } },
    ],
  },
  sends,
  ...extra,
});

const ttl = { level: 'SOL_IP', type: 'IP_TTL', value: { int: 3 } } as const;
const big = udp([
  { to: null, payload: { length: 300 }, iov: null, flags: [], cmsgs: [] },
  { to: { addr: '198.18.0.2', port: 7001 }, payload: { length: 5000 }, iov: [1000, 3000, 1000], flags: ['MSG_DONTWAIT', 'MSG_CONFIRM'], cmsgs: [{ level: 'SOL_IP', type: 'IP_TOS', value: { int: 4 } }, ttl, { level: 'SOL_SOCKET', type: 'SO_MARK', value: { u32: 7 } }] },
  { to: null, payload: { length: 2000 }, iov: null, flags: ['MSG_MORE'], cmsgs: [{ level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '198.18.0.1', addr: '0.0.0.0' } } }] },
  { to: null, payload: { length: 10 }, iov: null, flags: [], cmsgs: [ttl] },
]);

test('unit: "some send has payload >= 1000 and an IP_TTL cmsg" shrinks to one send of exactly 1000 bytes with that one cmsg', async (t) => {
  t.true(isValidCase(big));
  let calls = 0;
  const still = async (c: Case) => {
    calls++;
    t.true(isValidCase(c), 'only valid candidates are tried');
    return c.sends.some((s) => 'length' in s.payload && s.payload.length >= 1000 && s.cmsgs.some((m) => m.type === 'IP_TTL'));
  };
  const r = await minimize(big, still);
  t.is(r.tried, calls);
  t.false(r.budgetExhausted);
  t.true(r.steps > 5);
  t.is(r.case.sends.length, 1);
  const s = r.case.sends[0]!;
  t.deepEqual(s.payload, { length: 1000 });
  // the predicate ignores the TTL value, so it is simplified too (3 -> 0)
  t.deepEqual(s.cmsgs, [{ level: 'SOL_IP', type: 'IP_TTL', value: { int: 0 } }]);
  t.deepEqual(s.flags, []);
  t.is(s.iov, null);
  t.deepEqual(r.case.socket.setsockopt, []);
  t.deepEqual(r.case.net, { mtu: 1500, route_mtu: null, sysctl: {}, offload: { tx_checksum: false, gso: false } });
  t.is(r.case.socket.connect, null);
});

test('unit: the run bound is kept and reported', async (t) => {
  const r = await minimize(big, async () => true, { maxRuns: 7 });
  t.is(r.tried, 7);
  t.true(r.budgetExhausted);
  t.is(r.maxRuns, 7);
});

test('unit: a predicate that never holds leaves the case as it was', async (t) => {
  const r = await minimize(big, async () => false);
  t.deepEqual(r.case, big);
  t.is(r.steps, 0);
  t.false(r.budgetExhausted);
});

test('unit: candidates are one step each and include payload halving and iov cuts', (t) => {
  const whats = [...candidates(big)].map((c) => c.what);
  t.true(whats.includes('send 1 payload 5000 -> 2500'));
  t.true(whats.includes('send 1 one iovec'));
  t.true(whats.includes('drop sysctl net.ipv4.ip_default_ttl'));
  const halved = [...candidates(big)].find((c) => c.what === 'send 1 payload 5000 -> 2500')!.case;
  t.deepEqual(halved.sends[1]!.iov, [1000, 1500]);
  t.true(isValidCase(halved));
});

test('findingKey drops positions and values', (t) => {
  t.is(findingKey({ kind: 'CallMismatch', call: 'send', index: 3, expected: { errno: 'EINVAL' }, got: { ret: 16 } }), 'CallMismatch send expected EINVAL got ret');
  t.is(findingKey({ kind: 'ExtraPacket', packet: 4, got: new Uint8Array(1) }), 'ExtraPacket');
  t.is(
    findingKey({ kind: 'FieldMismatch', packet: 1, field: 'ip.options[1].time[0]', expected: null, got: null }),
    'FieldMismatch ip.options[].time[]',
  );
});

// ---- real kernel ----

const root = process.getuid?.() === 0;
const realTest = root && existsSync(defaultProbePath) ? test.serial : test.skip;

const ping = (type: number, data = 'abcdefgh'): Case['sends'][number] => ({
  to: { addr: '198.18.0.2', port: 0 },
  payload: { hex: `${type.toString(16).padStart(2, '0')}000000000000${Buffer.from(data).toString('hex')}` },
  iov: null,
  flags: [],
  cmsgs: [],
});

realTest('real: a ping type-42 send judged by the 5.10 profile on this kernel shrinks to that one send', async (t) => {
  const release = (await import('node:os')).release();
  if (profileFor(release).line === '5.10') {
    t.pass('host is 5.10: no difference to minimise');
    return;
  }
  const kase: Case = {
    format: 'skbdiff-case/1',
    id: 'ping-42-in-a-crowd',
    net: { mtu: 1400, route_mtu: null, sysctl: { 'net.ipv4.ping_group_range': '0 0', 'net.ipv4.ip_default_ttl': 33 }, offload: { tx_checksum: false, gso: false } },
    socket: {
      type: 'dgram',
      protocol: 'icmp',
      bind: null,
      connect: null,
      setsockopt: [
        { level: 'SOL_IP', name: 'IP_TTL', value: { int: 9 } },
        { level: 'SOL_IP', name: 'IP_TOS', value: { int: 16 } },
      ],
    },
    sends: [ping(8), ping(8, 'x'.repeat(300)), { ...ping(42), cmsgs: [{ level: 'SOL_IP', type: 'IP_TTL', value: { int: 5 } }] }, ping(8, 'tail')],
  };
  const wrong = profileFor('5.10.223');
  const target = new NetnsTarget();
  try {
    await target.start();
    // the original run: 5.10 refuses type 42, this kernel sends it
    const obs = await target.runCase(lower(kase));
    const findings = diffCase(predict(lower(kase), wrong, { sport: obs.result.inputs?.sport ?? null }), obs.result, { captureMsOfDay: obs.captureMsOfDay });
    const call = findings.filter((f) => f.kind === 'CallMismatch');
    t.deepEqual(call.map(findingKey), ['CallMismatch send expected EINVAL got ret']);
    const r = await minimize(kase, stillDiffers(target, wrong, call), { maxRuns: 120 });
    t.log(`steps ${r.steps}, runs ${r.tried}: ${JSON.stringify(r.case)}`);
    t.true(r.tried <= 120);
    t.is(r.case.sends.length, 1);
    t.is((r.case.sends[0]!.payload as { hex: string }).hex.slice(0, 2), '2a');
    t.deepEqual(r.case.socket.setsockopt, []);
    t.deepEqual(r.case.sends[0]!.cmsgs, []);
    t.deepEqual(Object.keys(r.case.net.sysctl), ['net.ipv4.ping_group_range']);
    // and it still differs when run once more
    t.true(await stillDiffers(target, wrong, call)(r.case));
    // with the right profile it does not
    t.false(await stillDiffers(target, profileFor(release), call)(r.case));
  } finally {
    await target.close();
  }
});
