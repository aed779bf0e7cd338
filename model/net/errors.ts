/**
 * How model functions fail. A kernel error return (`return -EINVAL;`) is data:
 * a `KErr` naming the errno and the mirrored function that chose it. A case
 * the model does not cover is a fault, `Unmodelled`, so that a gap is reported
 * as a gap and never passes as a guess.
 */

export interface KErr {
  readonly kind: 'kerr';
  readonly errno: string;
  readonly from: string;
}

export function kerr(errno: string, from: string): KErr {
  return { kind: 'kerr', errno, from };
}

export function isErr(x: unknown): x is KErr {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'kerr';
}

export class Unmodelled extends Error {
  constructor(what: string) {
    super(`the model does not cover ${what}`);
    this.name = 'Unmodelled';
  }
}
