#!/usr/bin/env node
// The `slipway` command. Runs the compiled CLI from dist/ (built by `npm run build`).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
