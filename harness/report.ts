/**
 * The human report of a run (printed, and saved as report.txt): one block
 * per differing case (id, about, findings, a side-by-side dump of each
 * packet a finding names), one line per case in error, then the summary.
 * Built from the RunResults alone, so a results.json read back renders the
 * same report.
 */
import { fromHex } from '../model/wire/error.js';
import { judgedOffsets } from './diff.js';
import { renderPacket, renderPacketDiff } from './render.js';
import type { CaseRecord, RunResults } from './results.js';

export function renderReport(r: RunResults, opts: { resultsDir?: string } = {}): string {
  const out: string[] = [];
  out.push(`skbdiff run ${r.run_id}: target ${r.target.name}${targetDetails(r)}, kernel ${r.target.release ?? 'unknown'}, ${profileLine(r)}`);
  for (const p of r.problems) out.push('', p);
  const differ = r.cases.filter((c) => c.verdict === 'differ');
  const errors = r.cases.filter((c) => c.verdict === 'error');
  for (const c of differ) out.push('', renderDiffering(c));
  if (errors.length > 0) {
    out.push('');
    // Interrupted cases are counted, not listed one by one.
    const interrupted = errors.filter((c) => c.error?.kind === 'interrupted');
    for (const c of errors) if (c.error?.kind !== 'interrupted' || c === interrupted[0]) out.push(renderError(c));
    if (interrupted.length > 1) out.push(`... and ${interrupted.length - 1} more case${interrupted.length === 2 ? '' : 's'} not run (interrupted)`);
  }
  out.push('', renderSummary(r));
  if (opts.resultsDir !== undefined) out.push(`results: ${opts.resultsDir}`);
  return out.join('\n') + '\n';
}

/** `12 cases: 10 passed, 1 differing, 1 error in 3.2 s; kernel 6.18.44; model profile 6.18 (for 6.18.44)` */
export function renderSummary(r: RunResults): string {
  const { cases, pass, differ, error } = r.counts;
  const s = [
    `${cases} case${cases === 1 ? '' : 's'}: ${pass} passed, ${differ} differing, ${error} error${error === 1 ? '' : 's'} in ${r.seconds.toFixed(1)} s`,
    `kernel ${r.target.release ?? 'unknown'}`,
    profileLine(r),
  ].join('; ');
  const tail = r.interrupted ? ' (INTERRUPTED)' : !r.valid ? ' (INVALID RUN)' : '';
  return s + tail;
}

function profileLine(r: RunResults): string {
  return r.profile ? `model profile ${r.profile.line} (for ${r.profile.release})` : 'no model profile';
}

function targetDetails(r: RunResults): string {
  const d = r.target.details.target;
  return d ? ` (${d})` : '';
}

function header(c: CaseRecord): string {
  return `${c.id ?? '(no id)'} (${c.source})`;
}

export function renderDiffering(c: CaseRecord): string {
  const lines = [`DIFFER ${header(c)}`];
  if (c.about !== undefined) lines.push(`  ${c.about}`);
  for (const f of c.rendered) lines.push(`  ${f}`);
  for (const p of packetsNamed(c)) {
    const e = c.expected?.packets[p];
    const o = c.observed?.packets[p];
    // A missing or extra packet has nothing to stand beside: dump the one there is.
    const dump =
      e && o
        ? renderPacketDiff(p, fromHex(e.hex), fromHex(o.hex), judgedOffsets(fromHex(e.hex), fromHex(o.hex), e.rules))
        : renderPacket(p, e ? 'expected' : 'got', fromHex((e ?? o)!.hex));
    lines.push('', ...dump.split('\n').map((l) => `  ${l}`));
  }
  return lines.join('\n');
}

export function renderError(c: CaseRecord): string {
  const msg = (c.error?.message ?? 'error').split('\n');
  // A case-file fault already starts with file:line.
  const head = msg[0]!.startsWith(`${c.file}:`) ? `${c.id ?? '(no id)'}` : header(c);
  return [`ERROR ${head}: ${msg[0]}`, ...msg.slice(1).map((l) => `  ${l}`)].join('\n');
}

/** Packet indices that findings of this case name, in order. */
function packetsNamed(c: CaseRecord): number[] {
  const seen = new Set<number>();
  for (const f of c.findings) if ('packet' in f && typeof f.packet === 'number') seen.add(f.packet);
  return [...seen].sort((a, b) => a - b);
}
