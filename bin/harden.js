#!/usr/bin/env node
// In a checkout: the TypeScript sources through tsx, so no build step sits between an edit and
// `npx harden`. Installed from the package (which ships no sources): the compiled dist/.
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const sources = join(__dirname, "..", "src", "cli", "main.ts");
let main;
if (existsSync(sources)) {
  require("tsx/cjs");
  ({ main } = require(sources));
} else {
  ({ main } = require("../dist/cli/main.js"));
}
Promise.resolve(main(process.argv.slice(2))).then((code) => {
  process.exitCode = code;
});
