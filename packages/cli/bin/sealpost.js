#!/usr/bin/env node
// The `sealpost` command. The code is in ../dist (built by `npm run build`, which `npm ci` runs).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv);
