import { parseArgs } from "node:util";
import { planFleet } from "../plan/plan";
import { FleetInvalid, validateFleet } from "../policy/validate";
import { DRIFT_USAGE, driftCommand } from "./drift-command";
import { InputError, reportInputError } from "./input-errors";
import type { Io } from "./io";
import { fleetSource, loadFleet } from "./load-fleet";
import { reviewTree } from "./review-tree";
import { diffTree, writeTree } from "./tree-io";

export type { Io } from "./io";

const FILE_HELP = `FILE is a fleet module (.ts .mts .cts .js .mjs .cjs, its default export), a fleet as .yaml/.json,
or a Pulumi stack file (its hardening:fleet value, or the module its hardening:fleetModule names).
--stack NAME reads stacks/Pulumi.NAME.yaml.`;

const VALIDATE_USAGE = `usage:
  harden validate (FILE | --stack NAME)

${FILE_HELP}
exit codes: 0 valid, 2 invalid input or usage`;

const RENDER_USAGE = `usage:
  harden render (FILE | --stack NAME) --out DIR [--check]

${FILE_HELP}
exit codes: 0 ok, 1 --check found differences, 2 invalid input or usage`;

export const USAGE = `usage:
  harden validate (FILE | --stack NAME)
  harden render   (FILE | --stack NAME) --out DIR [--check]
${DRIFT_USAGE.split("\n\n")[0].replace(/^usage:\n/, "")}

${FILE_HELP}
A fleet module is code that runs: only load modules you would run.
\`harden COMMAND --help\` says more about one command.
exit codes: 0 ok, 1 render --check found differences or drift, 2 invalid input, usage, or a host not checked`;

const HELP = new Set(["--help", "-h", "help"]);

/** Exit codes: 0 fine, 1 a check found differences, 2 the input or the call is wrong. */
export async function main(argv: string[], io: Io = { out: console.log, err: console.error }): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || HELP.has(command)) {
    (command === undefined ? io.err : io.out)(USAGE);
    return command === undefined ? 2 : 0;
  }
  // drift talks to hosts, so it parses its own options
  if (command === "drift") return driftCommand(rest, io);
  const usage = command === "validate" ? VALIDATE_USAGE : command === "render" ? RENDER_USAGE : undefined;
  if (usage === undefined) {
    io.err(`harden: unknown command ${JSON.stringify(command)}`);
    io.err(USAGE);
    return 2;
  }
  if (rest.some((a) => a === "--help" || a === "-h")) {
    io.out(usage);
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { stack: { type: "string" }, out: { type: "string" }, check: { type: "boolean" } },
    });
    const source = fleetSource(positionals, values.stack);
    if (command === "validate") {
      const result = validateFleet(await loadFleet(source));
      if (!result.ok) throw new FleetInvalid(result.errors);
      io.out(`${source}: valid, ${result.hosts.length} host(s): ${result.hosts.map((h) => h.name).join(", ")}`);
      return 0;
    }
    if (!values.out) throw new InputError("render needs --out DIR");
    const tree = reviewTree(planFleet(await loadFleet(source)));
    if (values.check) {
      const differences = diffTree(values.out, tree);
      if (differences.length === 0) {
        io.out(`${values.out}: up to date (${tree.size} files)`);
        return 0;
      }
      for (const d of differences) io.err(d);
      io.err(`${values.out}: ${differences.length} difference(s) from a fresh render of ${source}`);
      return 1;
    }
    writeTree(values.out, tree);
    io.out(`${source}: rendered ${tree.size} files into ${values.out}`);
    return 0;
  } catch (e) {
    return reportInputError(e, io, `harden ${command}`, usage);
  }
}
