// "How it works": fills the parameter reference from this server's detector catalog, so the page
// always matches the binary (names, defaults and help text come from the params' JSON Schemas).

import { api } from "./api.js";
import { el, fmtNum, withCode } from "./util.js";

function resolve(schema, node) {
  let cur = node;
  for (let i = 0; cur && cur.$ref && i < 8; i += 1) {
    const name = cur.$ref.split("/").pop();
    const { $ref, ...rest } = cur;
    cur = { ...(schema.$defs?.[name] ?? schema.definitions?.[name] ?? {}), ...rest };
  }
  return cur || {};
}

function typeText(schema, prop) {
  const p = resolve(schema, prop);
  if (Array.isArray(p.enum)) return p.enum.filter((v) => v != null).join(" | ");
  if (Array.isArray(p.oneOf) && p.oneOf.every((o) => "const" in o)) return p.oneOf.map((o) => o.const).join(" | ");
  const alts = p.anyOf || p.oneOf;
  if (alts) return alts.map((a) => resolve(schema, a).type || "spec").join(" | ");
  return Array.isArray(p.type) ? p.type.join(" | ") : p.type || "object";
}

function defaultText(v) {
  if (v === undefined) return "";
  if (v === null) return "auto";
  if (typeof v === "number") return fmtNum(v);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

async function fill() {
  const note = document.getElementById("reference-note");
  const body = document.getElementById("reference-body");
  let catalog;
  try {
    catalog = await api.detectors();
  } catch (err) {
    note.textContent = `The parameter reference comes from the running server's catalog (${err.message}). Start tsad serve and reload.`;
    return;
  }
  note.textContent = "Every parameter is optional; the default applies when you leave it out. The same names work in the web form, the REST API (DetectorSpec) and the CLI.";
  const sections = (catalog.detectors || []).map((d) => {
    const schema = d.params_schema || {};
    const root = resolve(schema, schema);
    const rows = Object.entries(root.properties || {}).filter(([name]) => name !== "kind").map(([name, prop]) => {
      const p = resolve(schema, prop);
      const def = d.defaults && name in d.defaults ? d.defaults[name] : p.default;
      return el("tr", {}, el("td", {}, name), el("td", {}, defaultText(def)), el("td", {}, typeText(schema, prop)), el("td", {}, withCode(p.description || "")));
    });
    return el("section", { class: "ref-kind", id: `ref-${d.kind}` },
      el("h3", {}, el("code", {}, d.kind), d.title || "", d.neural ? el("span", { class: "chip" }, "neural: trains") : null),
      el("p", { class: "help" }, withCode([d.summary, d.score_scale ? `Score scale: ${d.score_scale}.` : ""].filter(Boolean).join(" "))),
      rows.length
        ? el("div", { class: "table-scroll" }, el("table", { class: "data-table" },
          el("thead", {}, el("tr", {}, ["parameter", "default", "type", "meaning"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows)))
        : el("p", { class: "help" }, "No parameters."));
  });
  const presets = (catalog.presets || []).map((p) => el("li", {}, el("code", {}, p.name), ": ", withCode(p.description || p.title || ""), " ",
    el("code", { class: "spec" }, JSON.stringify(p.spec))));
  if (presets.length) sections.push(el("section", { class: "ref-kind" }, el("h3", {}, "Presets"), el("ul", {}, presets)));
  body.replaceChildren(...sections);
}

fill();
