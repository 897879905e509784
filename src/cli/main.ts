import { parseArgs } from "node:util";
import { planFleet } from "../plan/plan";
import { FleetInvalid, validateFleet } from "../policy/validate";
import { DRIFT_USAGE, driftCommand } from "./drift-command";
import { InputError, reportInputError } from "./input-errors";
import type { Io } from "./io";
import { fleetSource, loadFleetFile } from "./load-fleet";
import { reviewTree } from "./review-tree";
import { diffTree, writeTree } from "./tree-io";

const USAGE = `usage:
  harden validate (FILE | --stack NAME)
  harden render   (FILE | --stack NAME) --out DIR [--check]

${DRIFT_USAGE}

FILE is a fleet as .yaml/.json, or a Pulumi stack file (its hardening:fleet value).
--stack NAME reads stacks/Pulumi.NAME.yaml.
exit codes: 0 ok, 1 render --check found differences or drift, 2 invalid input, usage, or a host not checked`;

export type { Io } from "./io";

export function main(argv: string[], io: Io = { out: console.log, err: console.error }): number | Promise<number> {
  const [command, ...rest] = argv;
  // drift talks to hosts, so it is the one asynchronous command and parses its own options
  if (command === "drift") return driftCommand(rest, io);
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { stack: { type: "string" }, out: { type: "string" }, check: { type: "boolean" } },
    });
    if (command === "validate") {
      const source = fleetSource(positionals, values.stack);
      const result = validateFleet(loadFleetFile(source));
      if (!result.ok) throw new FleetInvalid(result.errors);
      io.out(`${source}: valid, ${result.hosts.length} host(s): ${result.hosts.map((h) => h.name).join(", ")}`);
      return 0;
    }
    if (command === "render") {
      const source = fleetSource(positionals, values.stack);
      if (!values.out) throw new InputError("render needs --out DIR");
      const tree = reviewTree(planFleet(loadFleetFile(source)));
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
    }
    io.err(USAGE);
    return 2;
  } catch (e) {
    return reportInputError(e, io, "harden", USAGE);
  }
}
