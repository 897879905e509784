import { readFileSync } from "node:fs";
import { join } from "node:path";
import Handlebars from "handlebars";

// Templates only loop and print; logic lives in TypeScript. `strict` turns a missing value into an
// error instead of an empty string, and `noEscape` because nothing here is HTML.
const TEMPLATE_DIR = join(__dirname, "..", "..", "templates");

const hbs = Handlebars.create();

/** Quotes a value for POSIX sh: the only way a policy string may reach a script line. */
export function shQuote(value: string | number): string {
  const s = String(value);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

hbs.registerHelper("sh", (value: unknown) => {
  if (typeof value !== "string" && typeof value !== "number") {
    throw new Error(`sh helper: expected a string or number, got ${typeof value}`);
  }
  return shQuote(value);
});
hbs.registerHelper("join", (list: unknown, sep: unknown) => {
  if (!Array.isArray(list)) throw new Error("join helper: expected a list");
  return list.join(typeof sep === "string" ? sep : " ");
});
hbs.registerHelper("eq", (a: unknown, b: unknown) => a === b);

const compiled = new Map<string, Handlebars.TemplateDelegate>();

/** Renders templates/<name> (e.g. "sshd/harden.conf.hbs") with `data`. Compiled once per process. */
export function renderTemplate(name: string, data: object): string {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(join(TEMPLATE_DIR, name), "utf8");
    template = hbs.compile(source, { noEscape: true, strict: true, preventIndent: true });
    compiled.set(name, template);
  }
  return template(data);
}

/** Registers templates/<name> as a partial usable as {{> partialName}}. */
export function registerPartial(partialName: string, name: string): void {
  if (hbs.partials[partialName]) return;
  hbs.registerPartial(partialName, readFileSync(join(TEMPLATE_DIR, name), "utf8"));
}
