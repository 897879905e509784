#!/usr/bin/env node
// Runs the TypeScript CLI directly: no build step between a checkout and `npx harden`.
require("tsx/cjs");
const { main } = require("../src/cli/main.ts");
Promise.resolve(main(process.argv.slice(2))).then((code) => {
  process.exitCode = code;
});
