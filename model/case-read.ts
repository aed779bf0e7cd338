/**
 * The strict reader of `skbdiff-case/1` (../shared/case-format.md). Every
 * fault is a CaseError that names file, line and JSON path, e.g.
 *
 *   cases.jsonl:12: $.sends[0].cmsgs[1].type: unknown SOL_IP cmsg type "IP_TLL" (did you mean IP_TTL?)
 *
 * Unknown fields, wrong types, missing required fields and unknown constant
 * names are errors; optional fields get the defaults of case-format.md. One
 * bad case never hides the good ones: the reader returns one entry per case.
 *
 * JSON is parsed by a small parser of our own (`parseJson`) so that syntax
 * errors name line:column on every Node version, duplicate keys are errors
 * instead of silently last-wins, and integers above 2^53 are seen as written.
 */

import { readFile } from 'node:fs/promises';
import type { CapName, Case, CmsgSpec, ConstName, Endpoint, NetSpec, Payload, SendSpec, SockoptCall, SocketSpec, Value } from './case.js';
import { DEFAULT_NET, NET_CAPS } from './case.js';
import {
  cmsgTypeNames,
  lookupName,
  MSG_FLAGS,
  optionNames,
  resolveLevel,
  suggestName,
  UnknownNameError,
} from './linux/constants.js';

// ---------------------------------------------------------------------------
// JSON with positions

export type JValue =
  | { kind: 'object'; at: number; members: Map<string, { keyAt: number; value: JValue }> }
  | { kind: 'array'; at: number; items: JValue[] }
  | { kind: 'string'; at: number; value: string }
  | { kind: 'number'; at: number; value: number; text: string }
  | { kind: 'boolean'; at: number; value: boolean }
  | { kind: 'null'; at: number };

/** A JSON syntax error at a character offset of the text that was parsed. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`${detail} at offset ${offset}`);
    this.name = 'JsonSyntaxError';
  }
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/**
 * Parses one JSON value (RFC 8259) starting at `start`, and returns it with
 * the offset just after it. Duplicate object keys are a syntax error.
 */
export function parseJsonValue(text: string, start = 0): { value: JValue; end: number } {
  let i = start;
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const describe = (): string => (i >= text.length ? 'end of input' : JSON.stringify(text[i]));
  const fail = (what: string): never => {
    throw new JsonSyntaxError(i, `expected ${what}, found ${describe()}`);
  };
  const str = (): string => {
    const at = i;
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) throw new JsonSyntaxError(at, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return out;
      }
      if (c < 0x20) throw new JsonSyntaxError(i, 'control character in string (escape it)');
      if (c === 0x5c) {
        const e = text[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && simple[e] !== undefined) {
          out += simple[e];
          i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else {
          throw new JsonSyntaxError(i, 'invalid escape in string');
        }
        continue;
      }
      out += text[i];
      i++;
    }
  };
  const value = (): JValue => {
    ws();
    const at = i;
    const c = text[i];
    if (c === '{') {
      i++;
      const members = new Map<string, { keyAt: number; value: JValue }>();
      ws();
      if (text[i] === '}') {
        i++;
        return { kind: 'object', at, members };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a field name in double quotes');
        const keyAt = i;
        const key = str();
        if (members.has(key)) throw new JsonSyntaxError(keyAt, `duplicate field ${JSON.stringify(key)}`);
        ws();
        if (text[i] !== ':') fail("':' after a field name");
        i++;
        members.set(key, { keyAt, value: value() });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { kind: 'object', at, members };
        }
        fail("',' or '}' after a field");
      }
    }
    if (c === '[') {
      i++;
      const items: JValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { kind: 'array', at, items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { kind: 'array', at, items };
        }
        fail("',' or ']' after an array element");
      }
    }
    if (c === '"') return { kind: 'string', at, value: str() };
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v === null ? { kind: 'null', at } : { kind: 'boolean', at, value: v };
      }
    }
    NUMBER_RE.lastIndex = i;
    const m = NUMBER_RE.exec(text);
    if (m !== null) {
      i += m[0].length;
      return { kind: 'number', at, value: Number(m[0]), text: m[0] };
    }
    return fail('a JSON value');
  };
  const v = value();
  return { value: v, end: i };
}

/** Parses text that holds exactly one JSON value (surrounding whitespace allowed). */
export function parseJson(text: string): JValue {
  const { value, end } = parseJsonValue(text);
  let i = end;
  while (i < text.length && /[ \t\r\n]/.test(text[i] ?? '')) i++;
  if (i < text.length) throw new JsonSyntaxError(i, `unexpected ${JSON.stringify(text[i])} after the JSON value`);
  return value;
}

// ---------------------------------------------------------------------------
// Errors

/** A fault in a case file: `file:line[:column]: [$.path: ]detail`. */
export class CaseError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number | null,
    readonly path: string | null,
    readonly detail: string,
  ) {
    super(`${file}:${line}${column !== null ? `:${column}` : ''}: ${path !== null ? `${path}: ` : ''}${detail}`);
    this.name = 'CaseError';
  }
}

export type CaseEntry = { ok: true; case: Case; line: number } | { ok: false; error: CaseError; line: number };

/** A fault found while checking a parsed value: where (path, offset) and what. */
export class PathError extends Error {
  constructor(
    readonly path: string,
    readonly at: number,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

// ---------------------------------------------------------------------------
// Checking helpers

export function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

export function shown(v: JValue): string {
  switch (v.kind) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string': {
      const s = JSON.stringify(v.value);
      return `string ${s.length > 40 ? `${s.slice(0, 37)}..."` : s}`;
    }
    case 'number':
      return `number ${v.text}`;
    case 'boolean':
      return String(v.value);
    case 'null':
      return 'null';
  }
}

type JObject = Extract<JValue, { kind: 'object' }>;

/**
 * Checks that `v` is an object with no fields beyond `required` and
 * `optional`, and with every required one; returns a field getter.
 */
export function fields(v: JValue, path: string, required: readonly string[], optional: readonly string[] = []): (k: string) => JValue | undefined {
  if (v.kind !== 'object') throw new PathError(path, v.at, `expected an object, got ${shown(v)}`);
  const allowed = [...required, ...optional];
  for (const [k, { keyAt }] of v.members) {
    if (!allowed.includes(k)) {
      const table = Object.fromEntries(allowed.map((a) => [a, 0]));
      const s = suggestName(k, table) ?? suggestLower(k, allowed);
      throw new PathError(path, keyAt, `unknown field ${JSON.stringify(k)}${s !== null ? ` (did you mean ${JSON.stringify(s)}?)` : ''}`);
    }
  }
  for (const k of required) {
    if (!v.members.has(k)) throw new PathError(path, v.at, `missing required field ${JSON.stringify(k)}`);
  }
  const obj: JObject = v;
  return (k) => obj.members.get(k)?.value;
}

/** suggestName compares upper-cased; field names are lower case. */
function suggestLower(k: string, allowed: readonly string[]): string | null {
  const table = Object.fromEntries(allowed.map((a) => [a.toUpperCase(), 0]));
  const s = suggestName(k, table);
  return s === null ? null : (allowed.find((a) => a.toUpperCase() === s) ?? null);
}

export function str(v: JValue, path: string): string {
  if (v.kind !== 'string') throw new PathError(path, v.at, `expected a string, got ${shown(v)}`);
  return v.value;
}

export function bool(v: JValue, path: string): boolean {
  if (v.kind !== 'boolean') throw new PathError(path, v.at, `expected true or false, got ${shown(v)}`);
  return v.value;
}

export function arr(v: JValue, path: string): JValue[] {
  if (v.kind !== 'array') throw new PathError(path, v.at, `expected an array, got ${shown(v)}`);
  return v.items;
}

/** An integer in [min, max]; `what` names the range in the message. */
export function int(v: JValue, path: string, min: number, max: number, what: string): number {
  if (v.kind !== 'number' || !Number.isInteger(v.value)) throw new PathError(path, v.at, `expected an integer, got ${shown(v)}`);
  if (!Number.isSafeInteger(v.value)) throw new PathError(path, v.at, `${v.text} is out of range for ${what} (${min}..${max})`);
  if (v.value < min || v.value > max) throw new PathError(path, v.at, `${v.text} is out of range for ${what} (${min}..${max})`);
  return v.value;
}

const C_INT: [number, number, string] = [-0x80000000, 0x7fffffff, 'a C int'];
const U8: [number, number, string] = [0, 0xff, 'u8'];
const U16: [number, number, string] = [0, 0xffff, 'u16'];
const U32: [number, number, string] = [0, 0xffffffff, 'u32'];
const PORT: [number, number, string] = [0, 0xffff, 'a port'];

const DOTTED_QUAD = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

function addr(v: JValue, path: string): string {
  const s = str(v, path);
  if (!DOTTED_QUAD.test(s)) throw new PathError(path, v.at, `${JSON.stringify(s)} is not a dotted-quad IPv4 address`);
  return s;
}

export function hex(v: JValue, path: string): string {
  const s = str(v, path);
  const bad = /[^0-9a-fA-F]/.exec(s);
  if (bad !== null) throw new PathError(path, v.at, `not hex: ${JSON.stringify(bad[0])} at position ${bad.index}`);
  if (s.length % 2 !== 0) throw new PathError(path, v.at, `odd number of hex digits (${s.length})`);
  return s.toLowerCase();
}

function endpoint(v: JValue, path: string): Endpoint | null {
  if (v.kind === 'null') return null;
  const f = fields(v, path, ['addr', 'port']);
  return { addr: addr(f('addr')!, child(path, 'addr')), port: int(f('port')!, child(path, 'port'), ...PORT) };
}

function orDefault<T>(v: JValue | undefined, d: T, read: (v: JValue) => T): T {
  return v === undefined ? d : read(v);
}

/** Turns a name-table miss into a path error. */
function named<T>(path: string, at: number, resolve: () => T): T {
  try {
    return resolve();
  } catch (e) {
    if (e instanceof UnknownNameError || e instanceof Error) throw new PathError(path, at, e.message);
    throw e;
  }
}

/** A level: a name from the SOL table or a C int. */
function level(v: JValue, path: string): { spec: ConstName; num: number } {
  if (v.kind === 'number') {
    const n = int(v, path, ...C_INT);
    return { spec: n, num: n };
  }
  const s = str(v, path);
  return { spec: s, num: named(path, v.at, () => resolveLevel(s)) };
}

/** A name within a level's table (options or cmsg types) or a C int. */
function nameAt(v: JValue, path: string, lvl: number, tables: (level: number) => ReturnType<typeof optionNames>): ConstName {
  if (v.kind === 'number') return int(v, path, ...C_INT);
  const s = str(v, path);
  named(path, v.at, () => lookupName(tables(lvl), s));
  return s;
}

const VALUE_KINDS = ['int', 'u8', 'u16', 'u32', 'u64', 'hex', 'pktinfo'] as const;

function value(v: JValue, path: string, where: 'setsockopt' | 'cmsg'): Value {
  const f = fields(v, path, [], VALUE_KINDS);
  const present = VALUE_KINDS.filter((k) => f(k) !== undefined);
  if (present.length !== 1) {
    throw new PathError(path, v.at, `expected exactly one of ${VALUE_KINDS.join(', ')}; got ${present.length === 0 ? 'none' : present.join(', ')}`);
  }
  const k = present[0]!;
  const x = f(k)!;
  const p = child(path, k);
  switch (k) {
    case 'int':
      return { int: int(x, p, ...C_INT) };
    case 'u8':
      return { u8: int(x, p, ...U8) };
    case 'u16':
      return { u16: int(x, p, ...U16) };
    case 'u32':
      return { u32: int(x, p, ...U32) };
    case 'u64':
      return { u64: u64(x, p) };
    case 'hex':
      return { hex: hex(x, p) };
    case 'pktinfo': {
      const g = fields(x, p, ['ifindex', 'spec_dst', 'addr']);
      const ifv = g('ifindex')!;
      const ip = child(p, 'ifindex');
      let ifindex: number | 'tx';
      if (ifv.kind === 'string' && ifv.value === 'tx') {
        if (where === 'setsockopt') {
          throw new PathError(ip, ifv.at, '"tx" is only supported in a cmsg value; write the number');
        }
        ifindex = 'tx';
      } else if (ifv.kind === 'number') {
        ifindex = int(ifv, ip, ...C_INT);
      } else {
        throw new PathError(ip, ifv.at, `expected an integer or "tx", got ${shown(ifv)}`);
      }
      return { pktinfo: { ifindex, spec_dst: addr(g('spec_dst')!, child(p, 'spec_dst')), addr: addr(g('addr')!, child(p, 'addr')) } };
    }
  }
}

const U64_MAX = (1n << 64n) - 1n;

/** A u64: a JSON integer up to 2^53-1, or any value as a decimal string. */
function u64(v: JValue, path: string): number | string {
  if (v.kind === 'string') {
    if (!/^(?:0|[1-9][0-9]*)$/.test(v.value)) throw new PathError(path, v.at, `expected a decimal integer string, got ${shown(v)}`);
    if (BigInt(v.value) > U64_MAX) throw new PathError(path, v.at, `${v.value} is out of range for u64 (0..${U64_MAX})`);
    return v.value;
  }
  if (v.kind === 'number' && Number.isInteger(v.value) && !Number.isSafeInteger(v.value)) {
    throw new PathError(path, v.at, `${v.text} is above 2^53 and would lose precision; write it as a decimal string`);
  }
  return int(v, path, 0, Number.MAX_SAFE_INTEGER, 'u64 as a JSON number');
}

// ---------------------------------------------------------------------------
// The case

const ID_RE = /^[A-Za-z0-9._-]+$/;
const SYSCTL_RE = /^net\.(?:ipv4|core)\.[A-Za-z0-9_.-]+$/;
/** Largest payload the tools accept (the probe protocol carries it as one hex line). */
export const MAX_PAYLOAD = 1 << 20;
/** Largest raw control buffer (`control.hex`) the tools accept, for the same reason. */
export const MAX_CONTROL = 1 << 20;

function net(v: JValue, path: string): NetSpec {
  const f = fields(v, path, [], ['mtu', 'route_mtu', 'sysctl', 'offload']);
  const mtu = orDefault(f('mtu'), DEFAULT_NET.mtu, (x) => int(x, child(path, 'mtu'), 68, 65535, 'a device MTU (IPv4 minimum 68 to ETH_MAX_MTU)'));
  const routeMtu = orDefault(f('route_mtu'), DEFAULT_NET.route_mtu, (x) =>
    x.kind === 'null' ? null : int(x, child(path, 'route_mtu'), 1, 65535, 'a route MTU'),
  );
  const sysctl = orDefault(f('sysctl'), {}, (x) => {
    const p = child(path, 'sysctl');
    if (x.kind !== 'object') throw new PathError(p, x.at, `expected an object, got ${shown(x)}`);
    const out: Record<string, number | string> = {};
    for (const [k, { keyAt, value: val }] of x.members) {
      const kp = child(p, k);
      if (!SYSCTL_RE.test(k)) throw new PathError(kp, keyAt, `sysctl ${JSON.stringify(k)} is not a net.ipv4.* or net.core.* name`);
      if (val.kind === 'string') out[k] = val.value;
      else if (val.kind === 'number') out[k] = int(val, kp, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'a sysctl number');
      else throw new PathError(kp, val.at, `expected a number or a string, got ${shown(val)}`);
    }
    return out;
  });
  const offload = orDefault(f('offload'), { ...DEFAULT_NET.offload }, (x) => {
    const p = child(path, 'offload');
    const g = fields(x, p, [], ['tx_checksum', 'gso']);
    return {
      tx_checksum: orDefault(g('tx_checksum'), DEFAULT_NET.offload.tx_checksum, (y) => bool(y, child(p, 'tx_checksum'))),
      gso: orDefault(g('gso'), DEFAULT_NET.offload.gso, (y) => bool(y, child(p, 'gso'))),
    };
  });
  return { mtu, route_mtu: routeMtu, sysctl, offload };
}

/** A list of `{ level, name, value }` setsockopt calls (`$.socket.setsockopt`, `$.sends[i].setsockopt`). */
function sockoptCalls(x: JValue, path: string): SockoptCall[] {
  return arr(x, path).map((o, i) => {
    const p = child(path, i);
    const g = fields(o, p, ['level', 'name', 'value']);
    const lv = level(g('level')!, child(p, 'level'));
    return { level: lv.spec, name: nameAt(g('name')!, child(p, 'name'), lv.num, optionNames), value: value(g('value')!, child(p, 'value'), 'setsockopt') };
  });
}

const CAP_NAMES = Object.keys(NET_CAPS) as CapName[];

/** `$.socket.caps` (extension): names from NET_CAPS, each at most once. */
function caps(x: JValue, path: string): CapName[] {
  const seen = new Set<string>();
  return arr(x, path).map((y, i) => {
    const p = child(path, i);
    const s = str(y, p);
    if (!(CAP_NAMES as string[]).includes(s)) {
      const prefixed = `CAP_${s.toUpperCase()}`;
      // a typo of a network capability, not another capability (CAP_SYS_ADMIN is no CAP_NET_ADMIN)
      const hint = prefixed in NET_CAPS ? prefixed : s.toUpperCase().startsWith('CAP_NET_') ? suggestName(s, NET_CAPS) : null;
      throw new PathError(p, y.at, `unknown capability ${JSON.stringify(s)}${hint !== null ? ` (did you mean ${hint}?)` : ''}; accepted: ${CAP_NAMES.join(', ')}`);
    }
    if (seen.has(s)) throw new PathError(p, y.at, `${s} is listed twice`);
    seen.add(s);
    return s as CapName;
  });
}

function socket(v: JValue, path: string): SocketSpec {
  const f = fields(v, path, ['type', 'protocol'], ['bind', 'connect', 'setsockopt', 'caps']);
  const tv = f('type')!;
  const type = str(tv, child(path, 'type'));
  if (type !== 'dgram' && type !== 'raw') throw new PathError(child(path, 'type'), tv.at, `expected "dgram" or "raw", got ${shown(tv)}`);
  const pv = f('protocol')!;
  const pp = child(path, 'protocol');
  let protocol: SocketSpec['protocol'];
  if (type === 'dgram') {
    if (pv.kind !== 'string' || (pv.value !== 'udp' && pv.value !== 'udplite' && pv.value !== 'icmp')) {
      throw new PathError(pp, pv.at, `with type "dgram", expected "udp", "udplite" or "icmp", got ${shown(pv)}`);
    }
    protocol = pv.value;
  } else {
    if (pv.kind !== 'number') throw new PathError(pp, pv.at, `with type "raw", expected a protocol number, got ${shown(pv)}`);
    protocol = int(pv, pp, 0, 255, 'an IP protocol number');
  }
  const setsockopt = orDefault(f('setsockopt'), [] as SockoptCall[], (x) => sockoptCalls(x, child(path, 'setsockopt')));
  const out: SocketSpec = {
    type,
    protocol,
    bind: orDefault(f('bind'), null, (x) => endpoint(x, child(path, 'bind'))),
    connect: orDefault(f('connect'), null, (x) => endpoint(x, child(path, 'connect'))),
    setsockopt,
  };
  // Extension (README "Case format extensions"): set only when the case has it.
  const cv = f('caps');
  if (cv !== undefined) out.caps = caps(cv, child(path, 'caps'));
  return out;
}

function payload(v: JValue, path: string): Payload {
  const f = fields(v, path, [], ['length', 'hex']);
  const l = f('length');
  const h = f('hex');
  if ((l === undefined) === (h === undefined)) throw new PathError(path, v.at, `expected exactly one of length, hex; got ${l === undefined ? 'none' : 'length, hex'}`);
  if (l !== undefined) return { length: int(l, child(path, 'length'), 0, MAX_PAYLOAD, 'a payload length') };
  const s = hex(h!, child(path, 'hex'));
  if (s.length / 2 > MAX_PAYLOAD) throw new PathError(child(path, 'hex'), h!.at, `${s.length / 2} bytes is above the ${MAX_PAYLOAD}-byte payload limit`);
  return { hex: s };
}

function send(v: JValue, path: string): SendSpec {
  const f = fields(v, path, ['to', 'payload'], ['iov', 'flags', 'cmsgs', 'setsockopt', 'control']);
  const to = endpoint(f('to')!, child(path, 'to'));
  const pl = payload(f('payload')!, child(path, 'payload'));
  const plen = 'length' in pl ? pl.length : pl.hex.length / 2;
  const iov = orDefault(f('iov'), null as number[] | null, (x) => {
    if (x.kind === 'null') return null;
    const p = child(path, 'iov');
    const lens = arr(x, p).map((y, i) => int(y, child(p, i), 0, MAX_PAYLOAD, 'an iovec length'));
    const sum = lens.reduce((a, b) => a + b, 0);
    if (sum !== plen) throw new PathError(p, x.at, `iovec lengths sum to ${sum}, but the payload is ${plen} bytes`);
    return lens;
  });
  const flags = orDefault(f('flags'), [] as ConstName[], (x) =>
    arr(x, child(path, 'flags')).map((y, i) => {
      const p = child(child(path, 'flags'), i);
      if (y.kind === 'number') return int(y, p, ...U32);
      const s = str(y, p);
      named(p, y.at, () => lookupName(MSG_FLAGS, s));
      return s;
    }),
  );
  const cmsgs = orDefault(f('cmsgs'), [] as CmsgSpec[], (x) =>
    arr(x, child(path, 'cmsgs')).map((c, i) => {
      const p = child(child(path, 'cmsgs'), i);
      const g = fields(c, p, ['level', 'type', 'value'], ['cmsg_len']);
      const lv = level(g('level')!, child(p, 'level'));
      const spec: CmsgSpec = {
        level: lv.spec,
        type: nameAt(g('type')!, child(p, 'type'), lv.num, cmsgTypeNames),
        value: value(g('value')!, child(p, 'value'), 'cmsg'),
      };
      const cl = g('cmsg_len');
      if (cl !== undefined) spec.cmsg_len = int(cl, child(p, 'cmsg_len'), 0, Number.MAX_SAFE_INTEGER, 'cmsg_len');
      return spec;
    }),
  );
  const out: SendSpec = { to, payload: pl, iov, flags, cmsgs };
  // Extensions (README "Case format extensions"): set only when the case has them.
  const so = f('setsockopt');
  if (so !== undefined) out.setsockopt = sockoptCalls(so, child(path, 'setsockopt'));
  const cv = f('control');
  if (cv !== undefined) {
    const p = child(path, 'control');
    if (cmsgs.length > 0) {
      throw new PathError(p, cv.at, `a send has either cmsgs or control bytes, not both (cmsgs has ${cmsgs.length})`);
    }
    const h = fields(cv, p, ['hex'])('hex')!;
    const bytes = hex(h, child(p, 'hex'));
    if (bytes.length / 2 > MAX_CONTROL) throw new PathError(child(p, 'hex'), h.at, `${bytes.length / 2} bytes is above the ${MAX_CONTROL}-byte control limit`);
    out.control = { hex: bytes };
  }
  return out;
}

/** Checks one parsed case; throws PathError on the first fault. */
function checkCase(v: JValue): Case {
  const f = fields(v, '$', ['format', 'id', 'socket', 'sends'], ['about', 'net']);
  const fv = f('format')!;
  if (str(fv, '$.format') !== 'skbdiff-case/1') throw new PathError('$.format', fv.at, `expected "skbdiff-case/1", got ${shown(fv)}`);
  const iv = f('id')!;
  const id = str(iv, '$.id');
  if (!ID_RE.test(id)) throw new PathError('$.id', iv.at, `${JSON.stringify(id)} is not a valid id (letters, digits, "-", "_" and "." only)`);
  const av = f('about');
  const about = av === undefined ? undefined : str(av, '$.about');
  const netSpec = orDefault(f('net'), { ...DEFAULT_NET, sysctl: {}, offload: { ...DEFAULT_NET.offload } }, (x) => net(x, '$.net'));
  const sock = socket(f('socket')!, '$.socket');
  const sv = f('sends')!;
  const sendList = arr(sv, '$.sends');
  if (sendList.length === 0) throw new PathError('$.sends', sv.at, 'a case makes at least one send');
  const sends = sendList.map((s, i) => send(s, child('$.sends', i)));
  return { format: 'skbdiff-case/1', id, ...(about !== undefined ? { about } : {}), net: netSpec, socket: sock, sends };
}

/**
 * Reads the cases of a file's text: one case for `.json` (the whole text), one
 * per non-blank line for `.jsonl`. Entries are in file order; `line` is where
 * the case starts (1-based).
 */
export function readCases(text: string, source: { file: string; jsonl: boolean }): CaseEntry[] {
  return readJsonEntries(text, source, checkCase).map((r) => (r.ok ? { ok: true, line: r.line, case: r.value } : r));
}

/**
 * The JSON objects of a file's text, each checked by `check`: the whole text
 * for `.json`, one per non-blank line for `.jsonl`. Shared with model/result-read.ts.
 */
export function readJsonEntries<T>(
  text: string,
  source: { file: string; jsonl: boolean },
  check: (v: JValue) => T,
): Array<{ ok: true; value: T; line: number } | { ok: false; error: CaseError; line: number }> {
  const { file } = source;
  if (!source.jsonl) {
    const start = lineColumn(text, text.length - text.trimStart().length).line;
    return [readJsonEntry(text, file, 0, start, false, check)];
  }
  const out: Array<{ ok: true; value: T; line: number } | { ok: false; error: CaseError; line: number }> = [];
  text.split('\n').forEach((l, i) => {
    if (l.trim() !== '') out.push(readJsonEntry(l, file, i, i + 1, true, check));
  });
  return out;
}

/**
 * Parses one JSON value from `text` and checks it with `check`, turning a
 * syntax error or a PathError into a CaseError that names file and line
 * (`lineBase` is the 0-based file line `text` starts on). Shared with
 * model/result-read.ts.
 */
export function readJsonEntry<T>(
  text: string,
  file: string,
  lineBase: number,
  line: number,
  oneLine: boolean,
  check: (v: JValue) => T,
): { ok: true; value: T; line: number } | { ok: false; error: CaseError; line: number } {
  const where = (offset: number): { line: number; column: number } => {
    const lc = lineColumn(text, offset);
    return { line: lc.line + lineBase, column: lc.column };
  };
  let v: JValue;
  try {
    v = parseJson(text);
  } catch (e) {
    if (!(e instanceof JsonSyntaxError)) throw e;
    const w = where(e.offset);
    return { ok: false, line, error: new CaseError(file, w.line, w.column, null, `invalid JSON: ${e.detail}${oneLine ? ' (a .jsonl file holds one JSON object per line)' : ''}`) };
  }
  try {
    return { ok: true, line, value: check(v) };
  } catch (e) {
    if (!(e instanceof PathError)) throw e;
    return { ok: false, line, error: new CaseError(file, where(e.at).line, null, e.path, e.detail) };
  }
}

/**
 * Whether text holds one case per line: its first JSON value is followed by
 * more content. Text whose first value does not parse is taken as one case,
 * so that its syntax error is reported against the whole text.
 */
export function looksLikeJsonl(text: string): boolean {
  try {
    const { end } = parseJsonValue(text);
    return text.slice(end).trim() !== '';
  } catch {
    return false;
  }
}

/**
 * Reads a case file: `.json` (one case), `.jsonl` (one per line), or `-`
 * (stdin, either, decided by looksLikeJsonl). Throws only when the file
 * cannot be read or its name says neither.
 */
export async function readCaseFile(path: string): Promise<CaseEntry[]> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return readCases(text, { file: '<stdin>', jsonl: looksLikeJsonl(text) });
  }
  let jsonl: boolean;
  if (path.endsWith('.jsonl')) jsonl = true;
  else if (path.endsWith('.json')) jsonl = false;
  else throw new Error(`${path}: a case file must end in .json (one case) or .jsonl (one per line), or be - for stdin`);
  return readCases(await readFile(path, 'utf8'), { file: path, jsonl });
}
