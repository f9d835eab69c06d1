#!/usr/bin/env node
// The `slipway` command. Runs the bundled CLI from dist/bundle/ (built by `npm run build`).
import { main } from '../dist/bundle/slipway.js';

process.exitCode = await main(process.argv);
