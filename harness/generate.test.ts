import test from 'ava';
import { readCases } from '../model/case-read.js';
import { lower } from '../model/lower.js';
import { generateCase, generateCases, GROUPS, groupOf, MAX_CASE_PAYLOAD, MAX_SENDS, Rng, toJsonl } from './generate.js';
import type { Case } from '../model/case.js';

const cases = generateCases({ seed: 11, count: 300 });

test('same seed, same cases; another seed, other cases', (t) => {
  t.is(toJsonl(generateCases({ seed: 11, count: 300 })), toJsonl(cases));
  t.not(toJsonl(generateCases({ seed: 12, count: 300 })), toJsonl(cases));
});

test('case i depends only on seed and i, not on count', (t) => {
  const few = generateCases({ seed: 11, count: 25 });
  t.deepEqual(few, cases.slice(0, 25));
  t.deepEqual(generateCase(11, 17, groupOf(cases[17]!)!), cases[17]);
});

test('Rng: int stays in range and covers it', (t) => {
  const r = new Rng(5);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const x = r.int(3, 9);
    t.true(x >= 3 && x <= 9);
    seen.add(x);
  }
  t.is(seen.size, 7);
});

test('every generated case reads back with the strict reader and lowers', (t) => {
  const text = toJsonl(cases);
  const entries = readCases(text, { file: 'gen.jsonl', jsonl: true });
  t.is(entries.length, cases.length);
  for (const [i, e] of entries.entries()) {
    if (!e.ok) t.fail(`${cases[i]!.id}: ${e.error.message}`);
    else {
      t.deepEqual(e.case, cases[i]);
      t.notThrows(() => lower(e.case), cases[i]!.id);
    }
  }
});

test('ids encode seed and index; about says what was drawn', (t) => {
  cases.forEach((c, i) => {
    t.is(c.id, `gen-11-${i}`);
    t.regex(c.about ?? '', /^generated \(seed 11, case \d+, group [a-z-]+\): /);
  });
});

/** Every IPv4 address a case names (endpoints, pktinfo, option hops, raw headers' addresses). */
function addresses(c: Case): string[] {
  const out: string[] = [];
  const ep = (e: { addr: string } | null) => e && out.push(e.addr);
  ep(c.socket.bind);
  ep(c.socket.connect);
  for (const s of c.sends) {
    ep(s.to);
    for (const m of s.cmsgs) if ('pktinfo' in m.value) out.push(m.value.pktinfo.spec_dst, m.value.pktinfo.addr);
  }
  return out;
}

const quad = (b: Uint8Array, at: number) => [...b.subarray(at, at + 4)].join('.');

/** The hops of LSRR/SSRR options in an option block. */
function srrHops(opt: Uint8Array): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < opt.length; ) {
    const type = opt[i]!;
    if (type === 0) break;
    if (type === 1) {
      i++;
      continue;
    }
    const len = opt[i + 1] ?? 0;
    if (len < 2) break;
    if (type === 0x83 || type === 0x89) {
      const hops: string[] = [];
      for (let a = i + 3; a + 4 <= Math.min(i + len, opt.length); a += 4) hops.push(quad(opt, a));
      out.push(hops);
    }
    i += len;
  }
  return out;
}

test('traffic rule: addresses in 198.18.0.0/15 or 0.0.0.0, no local or loopback destination, no local first hop', (t) => {
  for (const c of cases) {
    for (const a of addresses(c)) t.true(a === '0.0.0.0' || /^198\.1[89]\./.test(a), `${c.id}: ${a}`);
    const dests = [c.socket.connect?.addr, ...c.sends.map((s) => s.to?.addr)].filter((x): x is string => !!x);
    for (const d of dests) {
      t.regex(d, /^198\.18\.0\.\d+$/, c.id);
      t.false(['198.18.0.0', '198.18.0.1', '198.18.0.255'].includes(d), `${c.id} sends to ${d}`);
    }
    if (c.socket.bind) t.true(['198.18.0.1', '0.0.0.0'].includes(c.socket.bind.addr), c.id);
    const p = lower(c);
    const optionBlocks: Uint8Array[] = [];
    p.setsockopt.forEach((o) => o.level === 0 && o.name === 4 && optionBlocks.push(o.value));
    for (const s of p.sends) {
      // raw header: daddr and saddr
      if (c.socket.type === 'raw' && (c.socket.protocol === 255 || c.socket.setsockopt.some((o) => o.name === 'IP_HDRINCL')) && s.payload.length >= 20) {
        t.regex(quad(s.payload, 16), /^198\.18\.0\.\d+$/, c.id);
        t.not(quad(s.payload, 16), '198.18.0.1', c.id);
        t.true(['0.0.0.0', '198.18.0.1', '198.18.0.9'].includes(quad(s.payload, 12)), c.id);
        const ihl = (s.payload[0]! & 15) * 4;
        if (ihl > 20) optionBlocks.push(s.payload.subarray(20, Math.min(ihl, s.payload.length)));
      }
    }
    for (const s of c.sends) for (const m of s.cmsgs) if ('hex' in m.value && (m.type === 'IP_RETOPTS' || m.type === 'IP_OPTIONS')) optionBlocks.push(Buffer.from(m.value.hex, 'hex'));
    for (const block of optionBlocks) {
      for (const hops of srrHops(block)) {
        for (const h of hops) t.regex(h, /^198\.18\.0\.\d+$/, `${c.id}: hop ${h}`);
        if (hops[0]) t.not(hops[0], '198.18.0.1', `${c.id}: first hop local`);
      }
    }
  }
});

test('traffic rule: at most 8 sends and 200 KB of payload per case', (t) => {
  for (const c of cases) {
    t.true(c.sends.length >= 1 && c.sends.length <= MAX_SENDS, c.id);
    const total = lower(c).sends.reduce((n, s) => n + s.payload.length, 0);
    t.true(total <= MAX_CASE_PAYLOAD, `${c.id}: ${total} bytes`);
  }
});

test('spread: every group, every socket kind, options, cmsgs, corking, GSO, sysctls and offloads appear', (t) => {
  const groups = new Set(cases.map(groupOf));
  for (const g of GROUPS) t.true(groups.has(g), g);
  const kinds = new Set(cases.map((c) => `${c.socket.type}/${typeof c.socket.protocol === 'number' ? 'n' : c.socket.protocol}`));
  t.deepEqual([...kinds].sort(), ['dgram/icmp', 'dgram/udp', 'dgram/udplite', 'raw/n']);
  const j = toJsonl(cases);
  for (const s of ['IP_OPTIONS', 'IP_RETOPTS', 'IP_TTL', 'IP_TOS', 'IP_PKTINFO', 'IP_PROTOCOL', 'UDP_SEGMENT', 'SO_MARK', 'UDP_CORK', 'MSG_MORE', 'cmsg_len', 'IP_MTU_DISCOVER', 'ip_default_ttl', 'ip_no_pmtu_disc', '"tx_checksum":true', '"gso":true', '"route_mtu":40', 'IP_HDRINCL', '"connect":{']) {
    t.true(j.includes(s), s);
  }
  const mtus = new Set(cases.map((c) => c.net.mtu));
  t.true(mtus.has(68) && mtus.size > 10);
  t.true(cases.some((c) => c.net.route_mtu !== null && c.net.route_mtu < 68));
});

test('groups restrict the draw; an unknown group is refused', (t) => {
  const pings = generateCases({ seed: 3, count: 20, groups: ['ping'] });
  t.true(pings.every((c) => c.socket.protocol === 'icmp' && c.net.sysctl['net.ipv4.ping_group_range'] === '0 0'));
  t.throws(() => generateCases({ seed: 3, count: 1, groups: ['nope' as 'ping'] }), { message: /unknown group "nope"/ });
});
