#!/usr/bin/env node
// Runs the TypeScript CLI directly: no build step between a checkout and `npx harden`.
require("tsx/cjs");
const { main } = require("../src/cli/main.ts");
process.exitCode = main(process.argv.slice(2));
