import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaseError, looksLikeJsonl, readCaseFile, readCases, type CaseEntry } from './case-read.js';
import type { Case } from './case.js';
import { EXAMPLE } from './testing/fixtures.js';

function one(text: string, jsonl = false): CaseEntry {
  const r = readCases(text, { file: jsonl ? 'cases.jsonl' : 'case.json', jsonl });
  if (r.length !== 1) throw new Error(`expected one entry, got ${r.length}`);
  return r[0]!;
}

function ok(text: string): Case {
  const e = one(text);
  if (!e.ok) throw new Error(`unexpected error: ${e.error.message}`);
  return e.case;
}

test('the case-format.md example reads, with every field as written', (t) => {
  t.deepEqual(ok(EXAMPLE), {
    format: 'skbdiff-case/1',
    id: 'ttl-cmsg-overrides-sockopt',
    about: 'An IP_TTL cmsg wins over the IP_TTL socket option.',
    net: { mtu: 1500, route_mtu: null, sysctl: { 'net.ipv4.ip_default_ttl': 64 }, offload: { tx_checksum: false, gso: false } },
    socket: {
      type: 'dgram',
      protocol: 'udp',
      bind: { addr: '198.18.0.1', port: 40000 },
      connect: null,
      setsockopt: [{ level: 'SOL_IP', name: 'IP_TTL', value: { int: 9 } }],
    },
    sends: [
      {
        to: { addr: '198.18.0.2', port: 7000 },
        payload: { length: 100 },
        iov: null,
        flags: [],
        cmsgs: [{ level: 'SOL_IP', type: 'IP_TTL', value: { int: 3 } }],
      },
    ],
  });
});

/** A minimal case as one line, with `patch` applied to its object. */
function minimal(patch: (c: any) => void = () => {}): string {
  const c: any = {
    format: 'skbdiff-case/1',
    id: 'm',
    socket: { type: 'dgram', protocol: 'udp' },
    sends: [{ to: { addr: '198.18.0.2', port: 7 }, payload: { length: 0 } }],
  };
  patch(c);
  return JSON.stringify(c);
}

test('optional fields get the defaults of case-format.md', (t) => {
  t.deepEqual(ok(minimal()), {
    format: 'skbdiff-case/1',
    id: 'm',
    net: { mtu: 1500, route_mtu: null, sysctl: {}, offload: { tx_checksum: false, gso: false } },
    socket: { type: 'dgram', protocol: 'udp', bind: null, connect: null, setsockopt: [] },
    sends: [{ to: { addr: '198.18.0.2', port: 7 }, payload: { length: 0 }, iov: null, flags: [], cmsgs: [] }],
  });
  t.deepEqual(
    ok(minimal((c) => (c.net = { offload: { gso: true } }))).net,
    { mtu: 1500, route_mtu: null, sysctl: {}, offload: { tx_checksum: false, gso: true } },
  );
});

test('good cases: numbers for names, every value kind, raw sockets', (t) => {
  const c = ok(
    minimal((c) => {
      c.socket = {
        type: 'raw',
        protocol: 255,
        setsockopt: [
          { level: 0, name: 3, value: { int: 1 } },
          { level: 'SOL_SOCKET', name: 'SO_MARK', value: { u32: 4294967295 } },
          { level: 'IPPROTO_IP', name: 'IP_OPTIONS', value: { hex: '0104AABB' } },
          { level: 'SOL_IP', name: 'IP_TOS', value: { u8: 255 } },
          { level: 'SOL_UDP', name: 'UDP_SEGMENT', value: { u16: 1400 } },
          { level: 'SOL_SOCKET', name: 'SO_TXTIME', value: { u64: '18446744073709551615' } },
          { level: 'SOL_SOCKET', name: 'SO_PRIORITY', value: { int: -2147483648 } },
          { level: 12345, name: 6789, value: { hex: '' } },
        ],
      };
      c.sends[0].payload = { hex: '00ff' };
      c.sends[0].iov = [1, 0, 1];
      c.sends[0].flags = ['MSG_MORE', 16];
      c.sends[0].cmsgs = [
        { level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '198.18.0.1', addr: '0.0.0.0' } } },
        { level: 'SOL_SOCKET', type: 'SCM_TXTIME', value: { u64: 9007199254740991 }, cmsg_len: 0 },
      ];
    }),
  );
  t.is(c.socket.protocol, 255);
  t.deepEqual(c.socket.setsockopt[2]!.value, { hex: '0104aabb' });
  t.deepEqual(c.sends[0]!.flags, ['MSG_MORE', 16]);
  t.is(c.sends[0]!.cmsgs[1]!.cmsg_len, 0);
  t.false('cmsg_len' in c.sends[0]!.cmsgs[0]!);
});

test('extensions: a send\'s own setsockopt calls and raw control bytes read as written, absent when not written', (t) => {
  const c = ok(
    minimal((c) => {
      c.socket.setsockopt = [{ level: 'SOL_UDP', name: 'UDP_CORK', value: { int: 1 } }];
      c.sends.push(
        { to: null, payload: { length: 1 }, setsockopt: [{ level: 'SOL_UDP', name: 'UDP_CORK', value: { int: 0 } }, { level: 0, name: 2, value: { u8: 3 } }] },
        { to: null, payload: { length: 1 }, control: { hex: '0102ABff' } },
        { to: null, payload: { length: 1 }, setsockopt: [], control: { hex: '' }, cmsgs: [] },
      );
    }),
  );
  t.false('setsockopt' in c.sends[0]! || 'control' in c.sends[0]!, 'an old-style send stays as it was');
  t.deepEqual(c.sends[1], {
    to: null,
    payload: { length: 1 },
    iov: null,
    flags: [],
    cmsgs: [],
    setsockopt: [
      { level: 'SOL_UDP', name: 'UDP_CORK', value: { int: 0 } },
      { level: 0, name: 2, value: { u8: 3 } },
    ],
  });
  t.deepEqual(c.sends[2]!.control, { hex: '0102abff' });
  t.false('setsockopt' in c.sends[2]!);
  t.deepEqual([c.sends[3]!.setsockopt, c.sends[3]!.control], [[], { hex: '' }], 'empty but present: kept');
});

test('extension: socket.caps reads the names as written, in case order; absent when not written', (t) => {
  t.false('caps' in ok(minimal()).socket, 'a case without caps stays as it was (root)');
  t.deepEqual(ok(minimal((c) => (c.socket.caps = []))).socket.caps, [], 'empty: none of the network capabilities');
  t.deepEqual(ok(minimal((c) => (c.socket.caps = ['CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN']))).socket.caps, ['CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN']);
});

/** [what the case has, the exact error]; each patch makes `minimal()` wrong in one way. */
const BAD: Array<[string, (c: any) => void, string]> = [
  ['cmsg type typo', (c) => (c.sends[0].cmsgs = [{ level: 'SOL_IP', type: 'IP_TLL', value: { int: 3 } }]), '$.sends[0].cmsgs[0].type: unknown SOL_IP cmsg type "IP_TLL" (did you mean IP_TTL?)'],
  ['option name typo', (c) => (c.socket.setsockopt = [{ level: 'SOL_SOCKET', name: 'SO_MRAK', value: { int: 1 } }]), '$.socket.setsockopt[0].name: unknown SOL_SOCKET option name "SO_MRAK" (did you mean SO_MARK?)'],
  ['option of another level', (c) => (c.socket.setsockopt = [{ level: 'SOL_UDP', name: 'IP_TTL', value: { int: 1 } }]), '$.socket.setsockopt[0].name: unknown SOL_UDP option name "IP_TTL"'],
  ['level typo', (c) => (c.socket.setsockopt = [{ level: 'SOL_PI', name: 'IP_TTL', value: { int: 1 } }]), '$.socket.setsockopt[0].level: unknown level "SOL_PI" (did you mean SOL_IP?)'],
  ['name at a level without names', (c) => (c.sends[0].cmsgs = [{ level: 7, type: 'IP_TTL', value: { int: 1 } }]), '$.sends[0].cmsgs[0].type: level 7 has no cmsg type names (known: SOL_IP, SOL_SOCKET, SOL_UDP, SOL_UDPLITE, SOL_RAW); write the cmsg type as a number'],
  ['flag typo', (c) => (c.sends[0].flags = ['MSG_MOER']), '$.sends[0].flags[0]: unknown MSG_* flag "MSG_MOER" (did you mean MSG_MORE?)'],
  ['flag above u32', (c) => (c.sends[0].flags = [4294967296]), '$.sends[0].flags[0]: 4294967296 is out of range for u32 (0..4294967295)'],
  ['unknown top-level field', (c) => (c.sned = []), '$: unknown field "sned" (did you mean "sends"?)'],
  ['unknown socket field', (c) => (c.socket.protcol = 'udp'), '$.socket: unknown field "protcol" (did you mean "protocol"?)'],
  ['unknown field, nothing close', (c) => (c.socket.zzz = 1), '$.socket: unknown field "zzz"'],
  ['missing sends', (c) => delete c.sends, '$: missing required field "sends"'],
  ['no sends', (c) => (c.sends = []), '$.sends: a case makes at least one send'],
  ['missing to', (c) => delete c.sends[0].to, '$.sends[0]: missing required field "to"'],
  ['wrong format', (c) => (c.format = 'skbdiff-case/2'), '$.format: expected "skbdiff-case/1", got string "skbdiff-case/2"'],
  ['bad id', (c) => (c.id = 'a b'), '$.id: "a b" is not a valid id (letters, digits, "-", "_" and "." only)'],
  ['empty id', (c) => (c.id = ''), '$.id: "" is not a valid id (letters, digits, "-", "_" and "." only)'],
  ['wrong type', (c) => (c.net = { mtu: '1500' }), '$.net.mtu: expected an integer, got string "1500"'],
  ['mtu too small', (c) => (c.net = { mtu: 67 }), '$.net.mtu: 67 is out of range for a device MTU (IPv4 minimum 68 to ETH_MAX_MTU) (68..65535)'],
  ['fractional number', (c) => (c.sends[0].to.port = 7.5), '$.sends[0].to.port: expected an integer, got number 7.5'],
  ['port out of range', (c) => (c.sends[0].to.port = 65536), '$.sends[0].to.port: 65536 is out of range for a port (0..65535)'],
  ['bad address', (c) => (c.socket.bind = { addr: '198.18.0.256', port: 1 }), '$.socket.bind.addr: "198.18.0.256" is not a dotted-quad IPv4 address'],
  ['leading zero address', (c) => (c.socket.bind = { addr: '198.018.0.1', port: 1 }), '$.socket.bind.addr: "198.018.0.1" is not a dotted-quad IPv4 address'],
  ['dgram with a number', (c) => (c.socket.protocol = 17), '$.socket.protocol: with type "dgram", expected "udp", "udplite" or "icmp", got number 17'],
  ['raw with a name', (c) => (c.socket = { type: 'raw', protocol: 'udp' }), '$.socket.protocol: with type "raw", expected a protocol number, got string "udp"'],
  ['raw protocol above 255', (c) => (c.socket = { type: 'raw', protocol: 256 }), '$.socket.protocol: 256 is out of range for an IP protocol number (0..255)'],
  ['socket type', (c) => (c.socket.type = 'stream'), '$.socket.type: expected "dgram" or "raw", got string "stream"'],
  ['two value kinds', (c) => (c.socket.setsockopt = [{ level: 'SOL_IP', name: 'IP_TTL', value: { int: 1, u8: 1 } }]), '$.socket.setsockopt[0].value: expected exactly one of int, u8, u16, u32, u64, hex, pktinfo; got int, u8'],
  ['no value kind', (c) => (c.socket.setsockopt = [{ level: 'SOL_IP', name: 'IP_TTL', value: {} }]), '$.socket.setsockopt[0].value: expected exactly one of int, u8, u16, u32, u64, hex, pktinfo; got none'],
  ['unknown value kind', (c) => (c.socket.setsockopt = [{ level: 'SOL_IP', name: 'IP_TTL', value: { i32: 1 } }]), '$.socket.setsockopt[0].value: unknown field "i32" (did you mean "u32"?)'],
  ['int above C int', (c) => (c.socket.setsockopt = [{ level: 'SOL_IP', name: 'IP_TTL', value: { int: 2147483648 } }]), '$.socket.setsockopt[0].value.int: 2147483648 is out of range for a C int (-2147483648..2147483647)'],
  ['u8 above 255', (c) => (c.socket.setsockopt = [{ level: 'SOL_IP', name: 'IP_TOS', value: { u8: 256 } }]), '$.socket.setsockopt[0].value.u8: 256 is out of range for u8 (0..255)'],
  ['u16 negative', (c) => (c.socket.setsockopt = [{ level: 'SOL_UDP', name: 'UDP_SEGMENT', value: { u16: -1 } }]), '$.socket.setsockopt[0].value.u16: -1 is out of range for u16 (0..65535)'],
  ['u64 too big', (c) => (c.socket.setsockopt = [{ level: 'SOL_SOCKET', name: 'SO_TXTIME', value: { u64: '18446744073709551616' } }]), '$.socket.setsockopt[0].value.u64: 18446744073709551616 is out of range for u64 (0..18446744073709551615)'],
  ['u64 not decimal', (c) => (c.socket.setsockopt = [{ level: 'SOL_SOCKET', name: 'SO_TXTIME', value: { u64: '0x10' } }]), '$.socket.setsockopt[0].value.u64: expected a decimal integer string, got string "0x10"'],
  ['odd hex', (c) => (c.sends[0].payload = { hex: 'abc' }), '$.sends[0].payload.hex: odd number of hex digits (3)'],
  ['not hex', (c) => (c.sends[0].payload = { hex: '0g' }), '$.sends[0].payload.hex: not hex: "g" at position 1'],
  ['payload both', (c) => (c.sends[0].payload = { hex: '00', length: 1 }), '$.sends[0].payload: expected exactly one of length, hex; got length, hex'],
  ['negative length', (c) => (c.sends[0].payload = { length: -1 }), '$.sends[0].payload.length: -1 is out of range for a payload length (0..1048576)'],
  ['iov sum', (c) => ((c.sends[0].payload = { length: 100 }), (c.sends[0].iov = [50, 40])), '$.sends[0].iov: iovec lengths sum to 90, but the payload is 100 bytes'],
  ['negative cmsg_len', (c) => (c.sends[0].cmsgs = [{ level: 'SOL_IP', type: 'IP_TTL', value: { int: 1 }, cmsg_len: -1 }]), '$.sends[0].cmsgs[0].cmsg_len: -1 is out of range for cmsg_len (0..9007199254740991)'],
  ['pktinfo missing addr', (c) => (c.sends[0].cmsgs = [{ level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 0, spec_dst: '0.0.0.0' } } }]), '$.sends[0].cmsgs[0].value.pktinfo: missing required field "addr"'],
  ['pktinfo bad ifindex', (c) => (c.sends[0].cmsgs = [{ level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'eth0', spec_dst: '0.0.0.0', addr: '0.0.0.0' } } }]), '$.sends[0].cmsgs[0].value.pktinfo.ifindex: expected an integer or "tx", got string "eth0"'],
  ['pktinfo tx in setsockopt', (c) => (c.socket.setsockopt = [{ level: 'SOL_IP', name: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '0.0.0.0', addr: '0.0.0.0' } } }]), '$.socket.setsockopt[0].value.pktinfo.ifindex: "tx" is only supported in a cmsg value; write the number'],
  ['sysctl outside net.ipv4/net.core', (c) => (c.net = { sysctl: { 'net.ipv6.conf.all.mtu': 1 } }), '$.net.sysctl["net.ipv6.conf.all.mtu"]: sysctl "net.ipv6.conf.all.mtu" is not a net.ipv4.* or net.core.* name'],
  ['sysctl value bool', (c) => (c.net = { sysctl: { 'net.ipv4.ip_no_pmtu_disc': true } }), '$.net.sysctl["net.ipv4.ip_no_pmtu_disc"]: expected a number or a string, got true'],
  ['offload not bool', (c) => (c.net = { offload: { gso: 1 } }), '$.net.offload.gso: expected true or false, got number 1'],
  ['route_mtu string', (c) => (c.net = { route_mtu: 'none' }), '$.net.route_mtu: expected an integer, got string "none"'],
  ['about not a string', (c) => (c.about = 1), '$.about: expected a string, got number 1'],
  ['flags not an array', (c) => (c.sends[0].flags = 'MSG_MORE'), '$.sends[0].flags: expected an array, got string "MSG_MORE"'],
  ['send setsockopt name typo', (c) => c.sends.push({ to: null, payload: { length: 0 }, setsockopt: [{ level: 'SOL_UDP', name: 'UDP_CROK', value: { int: 0 } }] }), '$.sends[1].setsockopt[0].name: unknown SOL_UDP option name "UDP_CROK" (did you mean UDP_CORK?)'],
  ['send setsockopt unknown field', (c) => (c.sends[0].setsockopt = [{ level: 'SOL_IP', name: 'IP_TTL', value: { int: 1 }, when: 'before' }]), '$.sends[0].setsockopt[0]: unknown field "when"'],
  ['send setsockopt not an array', (c) => (c.sends[0].setsockopt = { level: 'SOL_IP', name: 'IP_TTL', value: { int: 1 } }), '$.sends[0].setsockopt: expected an array, got an object'],
  ['send setsockopt pktinfo tx', (c) => (c.sends[0].setsockopt = [{ level: 'SOL_IP', name: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '0.0.0.0', addr: '0.0.0.0' } } }]), '$.sends[0].setsockopt[0].value.pktinfo.ifindex: "tx" is only supported in a cmsg value; write the number'],
  ['send field typo', (c) => (c.sends[0].setsockopts = []), '$.sends[0]: unknown field "setsockopts" (did you mean "setsockopt"?)'],
  ['control and cmsgs', (c) => ((c.sends[0].cmsgs = [{ level: 'SOL_IP', type: 'IP_TTL', value: { int: 1 } }]), (c.sends[0].control = { hex: '00' })), '$.sends[0].control: a send has either cmsgs or control bytes, not both (cmsgs has 1)'],
  ['control odd hex', (c) => (c.sends[0].control = { hex: '012' }), '$.sends[0].control.hex: odd number of hex digits (3)'],
  ['control without hex', (c) => (c.sends[0].control = {}), '$.sends[0].control: missing required field "hex"'],
  ['control as a string', (c) => (c.sends[0].control = '00'), '$.sends[0].control: expected an object, got string "00"'],
  ['control unknown kind', (c) => (c.sends[0].control = { hex: '00', length: 1 }), '$.sends[0].control: unknown field "length"'],
  ['caps not an array', (c) => (c.socket.caps = 'CAP_NET_RAW'), '$.socket.caps: expected an array, got string "CAP_NET_RAW"'],
  ['caps typo', (c) => (c.socket.caps = ['CAP_NET_RWA']), '$.socket.caps[0]: unknown capability "CAP_NET_RWA" (did you mean CAP_NET_RAW?); accepted: CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW'],
  ['caps without CAP_', (c) => (c.socket.caps = ['CAP_NET_ADMIN', 'net_raw']), '$.socket.caps[1]: unknown capability "net_raw" (did you mean CAP_NET_RAW?); accepted: CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW'],
  ['caps not on the send path', (c) => (c.socket.caps = ['CAP_SYS_ADMIN']), '$.socket.caps[0]: unknown capability "CAP_SYS_ADMIN"; accepted: CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW'],
  ['caps as a number', (c) => (c.socket.caps = [13]), '$.socket.caps[0]: expected a string, got number 13'],
  ['caps twice', (c) => (c.socket.caps = ['CAP_NET_RAW', 'CAP_NET_RAW']), '$.socket.caps[1]: CAP_NET_RAW is listed twice'],
  ['caps on a send', (c) => (c.sends[0].caps = []), '$.sends[0]: unknown field "caps"'],
  ['case not an object', (c) => ((c.sends = undefined), Object.assign(c, { sends: [[]] })), '$.sends[0]: expected an object, got an array'],
];

for (const [what, patch, message] of BAD) {
  test(`bad case: ${what}`, (t) => {
    const e = one(minimal(patch), true);
    t.false(e.ok);
    if (!e.ok) {
      t.is(e.error.message, `cases.jsonl:1: ${message}`);
      t.true(e.error instanceof CaseError);
    }
  });
}

test('.jsonl: one entry per non-blank line, line numbers kept, one bad line hides nothing', (t) => {
  const text = [minimal(), '', minimal((c) => (c.id = 'b b')), '   ', minimal((c) => (c.id = 'c')), '{"format": ', ''].join('\n');
  const r = readCases(text, { file: 'cases.jsonl', jsonl: true });
  t.deepEqual(
    r.map((e) => [e.line, e.ok ? e.case.id : e.error.message]),
    [
      [1, 'm'],
      [3, 'cases.jsonl:3: $.id: "b b" is not a valid id (letters, digits, "-", "_" and "." only)'],
      [5, 'c'],
      [6, 'cases.jsonl:6:12: invalid JSON: expected a JSON value, found end of input (a .jsonl file holds one JSON object per line)'],
    ],
  );
});

test('.json: syntax errors name line:column, path errors the line of the value', (t) => {
  const broken = EXAMPLE.replace('"mtu": 1500,', '"mtu": 1500');
  t.is((one(broken) as { error: CaseError }).error.message, `case.json:7:5: invalid JSON: expected ',' or '}' after a field, found "\\""`);
  const typo = EXAMPLE.replace('"type": "IP_TTL"', '"type": "IP_TLL"');
  t.is((one(typo) as { error: CaseError }).error.message, 'case.json:27: $.sends[0].cmsgs[0].type: unknown SOL_IP cmsg type "IP_TLL" (did you mean IP_TTL?)');
  const dup = EXAMPLE.replace('"mtu": 1500,', '"mtu": 1500, "mtu": 9000,');
  t.is((one(dup) as { error: CaseError }).error.message, 'case.json:6:18: invalid JSON: duplicate field "mtu"');
  const trailing = `${EXAMPLE}\n{}`;
  t.is((one(trailing) as { error: CaseError }).error.message, 'case.json:33:1: invalid JSON: unexpected "{" after the JSON value');
  // a case that is not an object
  t.is((one('[1]') as { error: CaseError }).error.message, 'case.json:1: $: expected an object, got an array');
});

test('integers above 2^53 are refused as written, not rounded', (t) => {
  // JSON.stringify cannot write 2^64-1 exactly, so the number goes in as text.
  const line = minimal((c) => (c.sends[0].cmsgs = [{ level: 1, type: 61, value: { u64: 'BIG' } }])).replace('"BIG"', '18446744073709551615');
  const e = one(line, true);
  t.false(e.ok);
  if (!e.ok) t.is(e.error.message, 'cases.jsonl:1: $.sends[0].cmsgs[0].value.u64: 18446744073709551615 is above 2^53 and would lose precision; write it as a decimal string');
});

test('stdin: json vs jsonl decided by content', (t) => {
  t.false(looksLikeJsonl(EXAMPLE));
  t.false(looksLikeJsonl(minimal()));
  t.true(looksLikeJsonl(`${minimal()}\n${minimal()}\n`));
  t.false(looksLikeJsonl('{"format": '));
});

test('readCaseFile: .json, .jsonl, and a name that says neither', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-case-'));
  try {
    writeFileSync(join(dir, 'a.json'), EXAMPLE);
    writeFileSync(join(dir, 'b.jsonl'), `${minimal()}\n${minimal((c) => (c.id = 'two'))}\n`);
    writeFileSync(join(dir, 'c.txt'), EXAMPLE);
    t.deepEqual((await readCaseFile(join(dir, 'a.json'))).map((e) => [e.line, e.ok]), [[1, true]]);
    t.deepEqual((await readCaseFile(join(dir, 'b.jsonl'))).map((e) => [e.line, e.ok && e.case.id]), [[1, 'm'], [2, 'two']]);
    await t.throwsAsync(readCaseFile(join(dir, 'c.txt')), { message: /must end in \.json .* or \.jsonl/ });
    await t.throwsAsync(readCaseFile(join(dir, 'missing.json')), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
