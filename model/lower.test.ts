import test from 'ava';
import { readCases } from './case-read.js';
import type { Case } from './case.js';
import { lower, payloadBytes, valueBytes } from './lower.js';
import { EXAMPLE } from './testing/fixtures.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** Hex written with spaces and comments for reading: `14000000 00000000  # cmsg_len`. */
const bytes = (s: string): string => s.replace(/#[^\n]*/g, '').replace(/\s+/g, '');

function read(text: string): Case {
  const [e] = readCases(text, { file: 'case.json', jsonl: false });
  if (e === undefined || !e.ok) throw new Error(e === undefined ? 'no case' : e.error.message);
  return e.case;
}

test('the case-format.md example lowers to the syscalls a C program would make', (t) => {
  const p = lower(read(EXAMPLE));
  t.is(p.id, 'ttl-cmsg-overrides-sockopt');
  t.deepEqual(p.net, { mtu: 1500, routeMtu: null, sysctl: [['net.ipv4.ip_default_ttl', '64']], txChecksum: false, gso: false });
  t.deepEqual(p.socket, { domain: 2, type: 2, protocol: 17, caps: null }); // AF_INET, SOCK_DGRAM, IPPROTO_UDP; all caps
  t.is(p.setsockopt.length, 1);
  t.is(p.setsockopt[0]!.level, 0); // SOL_IP
  t.is(p.setsockopt[0]!.name, 2); // IP_TTL
  t.is(hex(p.setsockopt[0]!.value), '09000000'); // int 9, little endian
  t.deepEqual(p.bind, { addr: 0xc6120001, port: 40000 });
  t.is(p.connect, null);
  t.is(p.sends.length, 1);
  const s = p.sends[0]!;
  t.deepEqual(s.to, { addr: 0xc6120002, port: 7000 });
  t.is(s.payload.length, 100);
  t.is(s.payload[0], 0);
  t.is(s.payload[99], 99);
  t.deepEqual(s.iov, [100]);
  t.is(s.flags, 0);
  // struct cmsghdr on x86_64, then the int, then padding to CMSG_SPACE(4) = 24
  t.is(
    hex(s.control),
    bytes(`
      14000000 00000000   # size_t cmsg_len = CMSG_LEN(4) = 20
      00000000            # int cmsg_level = SOL_IP
      02000000            # int cmsg_type = IP_TTL
      03000000            # int 3
      00000000            # pad to CMSG_ALIGN
    `),
  );
  t.deepEqual(s.txIfindexAt, []);
});

/** A case line with the given sends[0] fields. */
function withSend(send: object, socket: object = { type: 'dgram', protocol: 'udp' }): Case {
  return read(
    JSON.stringify({
      format: 'skbdiff-case/1',
      id: 't',
      socket,
      sends: [{ to: { addr: '198.18.0.2', port: 7 }, payload: { length: 0 }, ...send }],
    }),
  );
}

test('several cmsgs: each at the previous CMSG_SPACE, cmsg_len override in the header only, "tx" ifindex offsets', (t) => {
  const s = lower(
    withSend({
      cmsgs: [
        { level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '198.18.0.1', addr: '0.0.0.0' } } },
        { level: 'SOL_UDP', type: 'UDP_SEGMENT', value: { u16: 1400 }, cmsg_len: 0 },
        { level: 'SOL_IP', type: 'IP_PKTINFO', value: { pktinfo: { ifindex: 'tx', spec_dst: '0.0.0.0', addr: '198.18.0.1' } } },
        { level: 'SOL_SOCKET', type: 'SO_MARK', value: { hex: '' } },
      ],
    }),
  ).sends[0]!;
  t.is(
    hex(s.control),
    bytes(`
      # offset 0: struct in_pktinfo, CMSG_LEN(12) = 28, CMSG_SPACE(12) = 32
      1c000000 00000000  00000000  08000000
      00000000           # ipi_ifindex: "tx", filled in by the probe
      c6120001           # ipi_spec_dst 198.18.0.1, network order
      00000000           # ipi_addr
      00000000           # pad
      # offset 32: UDP_SEGMENT u16, cmsg_len overridden to 0, laid out as CMSG_SPACE(2) = 24
      00000000 00000000  11000000  67000000
      7805 000000000000
      # offset 56: second pktinfo
      1c000000 00000000  00000000  08000000
      00000000  00000000  c6120001  00000000
      # offset 88: SO_MARK with no data: CMSG_LEN(0) = CMSG_SPACE(0) = 16
      10000000 00000000  01000000  24000000
    `),
  );
  t.is(s.control.length, 104);
  t.deepEqual(s.txIfindexAt, [16, 72]);
});

test('extensions: a send\'s setsockopt calls lower like the socket\'s; control.hex is msg_control byte for byte', (t) => {
  const c = withSend({ setsockopt: [{ level: 'SOL_UDP', name: 'UDP_CORK', value: { int: 0 } }, { level: 'SOL_IP', name: 'IP_TOS', value: { u8: 0x10 } }] });
  const s = lower(c).sends[0]!;
  t.deepEqual(
    s.setsockoptBefore.map((o) => [o.level, o.name, hex(o.value)]),
    [
      [17, 1, '00000000'], // SOL_UDP, UDP_CORK, int 0
      [0, 1, '10'], // SOL_IP, IP_TOS, u8
    ],
  );
  t.is(hex(s.control), '', 'no cmsgs: no control');
  const raw = lower(withSend({ control: { hex: '0102030405060708090a0b0c0d0e0f' } })).sends[0]!;
  t.is(hex(raw.control), '0102030405060708090a0b0c0d0e0f', '15 bytes, no alignment, no header');
  t.deepEqual(raw.txIfindexAt, []);
  t.deepEqual(raw.setsockoptBefore, []);
  t.is(lower(withSend({ control: { hex: '' } })).sends[0]!.control.length, 0);
  // an old-style case: every send has an empty setsockoptBefore
  t.deepEqual(lower(read(EXAMPLE)).sends.map((x) => x.setsockoptBefore), [[]]);
});

test('setsockopt values: native-endian integers, hex as is, u64 beyond 2^53', (t) => {
  const p = lower(
    read(
      JSON.stringify({
        format: 'skbdiff-case/1',
        id: 'v',
        socket: {
          type: 'raw',
          protocol: 255,
          setsockopt: [
            { level: 'SOL_IP', name: 'IP_TOS', value: { u8: 0xb8 } },
            { level: 'SOL_UDP', name: 'UDP_SEGMENT', value: { u16: 0x1234 } },
            { level: 'SOL_SOCKET', name: 'SO_MARK', value: { u32: 0xdeadbeef } },
            { level: 'SOL_SOCKET', name: 'SO_PRIORITY', value: { int: -2 } },
            { level: 'SOL_SOCKET', name: 'SO_TXTIME', value: { u64: '18446744073709551614' } },
            { level: 'SOL_IP', name: 'IP_OPTIONS', value: { hex: '01010101' } },
            { level: 7, name: 99, value: { pktinfo: { ifindex: 5, spec_dst: '1.2.3.4', addr: '5.6.7.8' } } },
          ],
        },
        sends: [{ to: null, payload: { hex: 'AB' } }],
      }),
    ),
  );
  t.deepEqual(p.socket, { domain: 2, type: 3, protocol: 255, caps: null });
  t.deepEqual(
    p.setsockopt.map((o) => [o.level, o.name, hex(o.value)]),
    [
      [0, 1, 'b8'],
      [17, 103, '3412'],
      [1, 36, 'efbeadde'],
      [1, 12, 'feffffff'],
      [1, 61, 'feffffffffffffff'],
      [0, 4, '01010101'],
      [7, 99, '05000000' + '01020304' + '05060708'],
    ],
  );
  t.is(p.sends[0]!.to, null);
  t.is(hex(p.sends[0]!.payload), 'ab');
});

test('socket numbers: udplite and ping sockets', (t) => {
  t.deepEqual(lower(withSend({}, { type: 'dgram', protocol: 'udplite' })).socket, { domain: 2, type: 2, protocol: 136, caps: null });
  t.deepEqual(lower(withSend({}, { type: 'dgram', protocol: 'icmp' })).socket, { domain: 2, type: 2, protocol: 1, caps: null });
});

test('iov, flags and payload bytes', (t) => {
  const s = lower(withSend({ payload: { length: 300 }, iov: [256, 0, 44], flags: ['MSG_MORE', 'MSG_DONTWAIT', 0x10] })).sends[0]!;
  t.deepEqual(s.iov, [256, 0, 44]);
  t.is(s.flags, 0x8000 | 0x40 | 0x10);
  t.is(s.payload[255], 255);
  t.is(s.payload[256], 0);
  t.is(s.payload[299], 43);
  // an empty payload with no iov: one iovec of length 0; an empty iov list stays empty
  t.deepEqual(lower(withSend({})).sends[0]!.iov, [0]);
  t.deepEqual(lower(withSend({ iov: [] })).sends[0]!.iov, []);
  t.is(lower(withSend({})).sends[0]!.control.length, 0);
});

test('sysctls keep case order and become text', (t) => {
  const c = read(
    JSON.stringify({
      format: 'skbdiff-case/1',
      id: 's',
      net: { sysctl: { 'net.ipv4.ip_no_pmtu_disc': 1, 'net.core.optmem_max': 20480, 'net.ipv4.ip_local_port_range': '40000 40001' } },
      socket: { type: 'dgram', protocol: 'udp' },
      sends: [{ to: null, payload: { length: 1 } }],
    }),
  );
  t.deepEqual(lower(c).net.sysctl, [
    ['net.ipv4.ip_no_pmtu_disc', '1'],
    ['net.core.optmem_max', '20480'],
    ['net.ipv4.ip_local_port_range', '40000 40001'],
  ]);
});

test('value helpers', (t) => {
  t.is(hex(valueBytes({ int: 0x01020304 }).bytes), '04030201');
  t.deepEqual(valueBytes({ pktinfo: { ifindex: 'tx', spec_dst: '0.0.0.0', addr: '0.0.0.0' } }).txIfindexAt, [0]);
  t.is(hex(payloadBytes({ length: 3 })), '000102');
});

test('socket.caps lowers to capability numbers, ascending; absent stays null (all, as root)', (t) => {
  const withCaps = (caps?: string[]) => lower(withSend({}, { type: 'dgram', protocol: 'udp', ...(caps ? { caps } : {}) })).socket.caps;
  t.is(withCaps(), null);
  t.deepEqual(withCaps([]), []);
  t.deepEqual(withCaps(['CAP_NET_RAW']), [13]);
  t.deepEqual(withCaps(['CAP_NET_RAW', 'CAP_NET_BIND_SERVICE', 'CAP_NET_ADMIN']), [10, 12, 13]);
});
