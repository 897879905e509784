// Property: a hostile string planted in any string field of the example fleet is either refused
// with an error that names that field, or accepted only where the field is a crontab line (and then
// only without line breaks or control characters). Error lines stay printable ASCII whatever the input.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { exampleFleet } from "./fixtures";
import { FIXTURE_STRING_FIELDS, withString, type StringField } from "./stringFields";
import { validateFleet } from "./validate";

/** Each fragment alone must make any non-crontab field invalid. */
const HOSTILE = [
  ";", "|", "&", "$(id)", "`id`", "${IFS}", "'", '"', "\\", "\n", "\r", "\u0000", "\t", "<", ">", "(", ")", "{", "}",
  "*", "?", "!", "#", "~", "[", "]", "é", "\u202e", "\u2028", "😀", "\u00a0", "\u0085",
];
const LINE_BREAKING = /[\u0000-\u0008\u000a-\u001f\u007f\u2028\u2029]/;

const fleet = exampleFleet();

function plant(field: StringField, hostile: string, at: number): { input: unknown; text: string } {
  let original: any = fleet;
  for (const segment of field.path) original = original[segment];
  const base = field.kind === "key" ? String(field.path[field.path.length - 1]) : (original as string);
  const cut = at % (base.length + 1);
  const text = base.slice(0, cut) + hostile + base.slice(cut);
  return { input: withString(fleet, field, text), text };
}

function expectJudged(field: StringField, text: string, input: unknown): void {
  const result = validateFleet(input);
  const where = `${field.kind} ${field.display} = ${JSON.stringify(text)}`;
  if (result.ok) {
    expect(field.freeText, `accepted ${where}`).toBe(true);
    expect(LINE_BREAKING.test(text), `accepted a line break in ${where}`).toBe(false);
    return;
  }
  const prefix = field.kind === "key" ? `${field.display}: key ` : `${field.display}: `;
  expect(result.errors.some((e) => e.startsWith(prefix)), `${where} -> ${result.errors.join(" | ")}`).toBe(true);
  for (const e of result.errors) expect(e).toMatch(/^[\x20-\x7e]+$/);
}

describe("hostile strings in every string field", () => {
  it("fuzzes a known set of fields, crontab lines the only free text", () => {
    expect(FIXTURE_STRING_FIELDS.length).toBeGreaterThanOrEqual(90);
    expect(FIXTURE_STRING_FIELDS.filter((f) => f.freeText).map((f) => f.display)).toEqual([
      "defaults.cron.expected[0].line",
      "hosts[2].policy.cron.expected[0].line",
      "hosts[2].policy.cron.expected[1].line",
    ]);
    expect(FIXTURE_STRING_FIELDS.filter((f) => f.kind === "key").map((f) => f.path.join("."))).toEqual([
      "defaults.ssh.authorizedKeys.root", "groups.web", "groups.db", "groups.mail",
      "hosts.0.policy.ssh.authorizedKeys.webdev", "hosts.2.policy.ssh.authorizedKeys.admin",
    ]);
  });

  it("refuses every fragment in every field but crontab lines, naming the field", () => {
    for (const field of FIXTURE_STRING_FIELDS) {
      for (const hostile of HOSTILE) {
        const { input, text } = plant(field, hostile, 1);
        expectJudged(field, text, input);
        if (!field.freeText) expect(validateFleet(input).ok, `${field.display} = ${JSON.stringify(text)}`).toBe(false);
      }
    }
  });

  it("holds for arbitrary mixes of hostile fragments and any other text", () => {
    const hostileText = fc
      .tuple(fc.constantFrom(...HOSTILE), fc.string({ unit: "binary", maxLength: 12 }), fc.string({ maxLength: 6 }))
      .map(([fragment, any, more]) => fragment + any + more);
    fc.assert(
      fc.property(fc.constantFrom(...FIXTURE_STRING_FIELDS), hostileText, fc.nat(), (field, hostile, at) => {
        const { input, text } = plant(field, hostile, at);
        expectJudged(field, text, input);
      }),
      { numRuns: 3000, seed: 20240611 },
    );
  });
});
