#!/usr/bin/env node
// Thin launcher: the CLI lives in harness/cli.ts (compiled to dist/ by `npm run build`).
import { main } from '../dist/harness/cli.js';
main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
