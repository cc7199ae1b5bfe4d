#!/usr/bin/env node
/* global process, console */
// The `hive` command: runs the compiled CLI from dist/ (built by `npm run build`, which `npm ci` runs through `prepare`).
import { main } from '../dist/cluster/cli.js';

main(process.argv).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
