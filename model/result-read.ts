/**
 * The strict reader of result files (case-format.md, "One result", with the
 * comparison rules of model/result.ts): what `skbdiff predict` prints and
 * what a target observed, read back for `diff`. Same rules as the case
 * reader: unknown fields, wrong types and unknown errno names are errors that
 * name file, line and JSON path; one bad line never hides the good ones.
 */

import { readFile } from 'node:fs/promises';
import {
  arr,
  bool,
  CaseError,
  child,
  fields,
  hex,
  int,
  type JValue,
  looksLikeJsonl,
  PathError,
  readJsonEntries,
  shown,
  str,
} from './case-read.js';
import { ERRNOS, lookupName } from './linux/constants.js';
import type { CallResult, ExpectedPacket, IdRule, ObservedPacket, PacketRules, Result } from './result.js';

export type ResultEntry = { ok: true; result: Result; line: number } | { ok: false; error: CaseError; line: number };

const ID_RE = /^[A-Za-z0-9._-]+$/;

function callResult(v: JValue, path: string): CallResult {
  const f = fields(v, path, [], ['ret', 'errno', 'from']);
  const ret = f('ret');
  const errno = f('errno');
  if ((ret === undefined) === (errno === undefined)) {
    throw new PathError(path, v.at, `expected exactly one of ret, errno; got ${ret === undefined ? 'none' : 'ret, errno'}`);
  }
  if (ret !== undefined) {
    const from = f('from');
    if (from !== undefined) throw new PathError(path, from.at, '"from" goes with "errno", not "ret"');
    return { ret: int(ret, child(path, 'ret'), Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'a return value') };
  }
  const name = str(errno!, child(path, 'errno'));
  try {
    lookupName(ERRNOS, name);
  } catch (e) {
    throw new PathError(child(path, 'errno'), errno!.at, (e as Error).message);
  }
  const from = f('from');
  return from === undefined ? { errno: name } : { errno: name, from: str(from, child(path, 'from')) };
}

function idRule(v: JValue, path: string): IdRule {
  const f = fields(v, path, ['rule'], ['group', 'plus']);
  const rv = f('rule')!;
  const rule = str(rv, child(path, 'rule'));
  if (rule === 'zero' || rule === 'exact') {
    for (const k of ['group', 'plus']) {
      const x = f(k);
      if (x !== undefined) throw new PathError(path, x.at, `"${k}" goes with rule "sequence" only`);
    }
    return { rule };
  }
  if (rule !== 'sequence') throw new PathError(child(path, 'rule'), rv.at, `expected "zero", "exact" or "sequence", got ${shown(rv)}`);
  for (const k of ['group', 'plus']) if (f(k) === undefined) throw new PathError(path, v.at, `missing required field ${JSON.stringify(k)}`);
  return {
    rule,
    group: int(f('group')!, child(path, 'group'), 0, Number.MAX_SAFE_INTEGER, 'a group'),
    plus: int(f('plus')!, child(path, 'plus'), 0, 0xffff, 'an ID increment'),
  };
}

function packet(v: JValue, path: string): ExpectedPacket | ObservedPacket {
  const f = fields(v, path, ['hex'], ['rules']);
  const h = hex(f('hex')!, child(path, 'hex'));
  const rv = f('rules');
  if (rv === undefined) return { hex: h };
  const rp = child(path, 'rules');
  const g = fields(rv, rp, ['ip.id', 'ip.checksum'], ['ip.options.ts.time']);
  const cv = g('ip.checksum')!;
  const checksumRule = str(cv, child(rp, 'ip.checksum'));
  if (checksumRule !== 'valid' && checksumRule !== 'exact') throw new PathError(child(rp, 'ip.checksum'), cv.at, `expected "valid" or "exact", got ${shown(cv)}`);
  const rules: PacketRules = { 'ip.id': idRule(g('ip.id')!, child(rp, 'ip.id')), 'ip.checksum': checksumRule };
  const ts = g('ip.options.ts.time');
  if (ts !== undefined) {
    const tp = child(rp, 'ip.options.ts.time');
    rules['ip.options.ts.time'] = arr(ts, tp).map((x, i) => int(x, child(tp, i), 0, 0xffff, 'a byte offset'));
  }
  return { hex: h, rules };
}

function checkResult(v: JValue): Result {
  const f = fields(v, '$', ['id', 'setsockopt', 'sends', 'packets'], ['socket', 'bind', 'connect', 'inputs']);
  const iv = f('id')!;
  const id = str(iv, '$.id');
  if (!ID_RE.test(id)) throw new PathError('$.id', iv.at, `${JSON.stringify(id)} is not a valid id (letters, digits, "-", "_" and "." only)`);
  const r: Result = {
    id,
    setsockopt: arr(f('setsockopt')!, '$.setsockopt').map((x, i) => callResult(x, child('$.setsockopt', i))),
    sends: arr(f('sends')!, '$.sends').map((x, i) => callResult(x, child('$.sends', i))),
    packets: arr(f('packets')!, '$.packets').map((x, i) => packet(x, child('$.packets', i))),
  };
  for (const k of ['socket', 'bind', 'connect'] as const) {
    const x = f(k);
    if (x !== undefined) r[k] = callResult(x, child('$', k));
  }
  const inp = f('inputs');
  if (inp !== undefined) {
    const g = fields(inp, '$.inputs', [], ['sport', 'tx_ifindex', 'tx_gso_udp_l4', 'max_header']);
    r.inputs = {};
    const sp = g('sport');
    if (sp !== undefined) r.inputs.sport = sp.kind === 'null' ? null : int(sp, '$.inputs.sport', 0, 0xffff, 'a port');
    const ti = g('tx_ifindex');
    if (ti !== undefined) r.inputs.tx_ifindex = int(ti, '$.inputs.tx_ifindex', 1, 0x7fffffff, 'an ifindex');
    const gu = g('tx_gso_udp_l4');
    if (gu !== undefined) r.inputs.tx_gso_udp_l4 = bool(gu, '$.inputs.tx_gso_udp_l4');
    const mh = g('max_header');
    if (mh !== undefined) r.inputs.max_header = int(mh, '$.inputs.max_header', 0, 4096, 'MAX_HEADER in bytes');
  }
  return r;
}

/** Reads the results of a file's text: one for `.json`, one per non-blank line for `.jsonl`. */
export function readResults(text: string, source: { file: string; jsonl: boolean }): ResultEntry[] {
  return readJsonEntries(text, source, checkResult).map((e) => (e.ok ? { ok: true, line: e.line, result: e.value } : e));
}

/** Reads a result file: `.json`, `.jsonl`, or `-` (stdin, either). Throws only when it cannot be read. */
export async function readResultFile(path: string): Promise<ResultEntry[]> {
  if (path === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return readResults(text, { file: '<stdin>', jsonl: looksLikeJsonl(text) });
  }
  let jsonl: boolean;
  if (path.endsWith('.jsonl')) jsonl = true;
  else if (path.endsWith('.json')) jsonl = false;
  else throw new Error(`${path}: a result file must end in .json (one result) or .jsonl (one per line), or be - for stdin`);
  return readResults(await readFile(path, 'utf8'), { file: path, jsonl });
}
