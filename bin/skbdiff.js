#!/usr/bin/env node
// Thin launcher: the CLI lives in harness/cli.ts (compiled to dist/ by `npm run build`).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/harness/cli.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(`skbdiff: ${cli.pathname} is missing; build first: npm run build\n`);
  process.exit(2);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
