// Parses, validates and renders Curfew's Teams Adaptive Card with Microsoft's own renderer
// (the `adaptivecards` npm package, in jsdom). The card is the "Teams rendering of the pending
// sample" in docs/notify.md, which notify's unit tests keep equal to `teams_message`.
// Usage: node check.mjs ../../docs/notify.md  (run by .ci/adaptive-card.sh)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { JSDOM } from "jsdom";

const doc = readFileSync(process.argv[2], "utf8");
const section = doc.split("### Teams rendering of the pending sample")[1];
if (!section) throw new Error("no Teams sample in " + process.argv[2]);
const message = JSON.parse(section.split("```json\n")[1].split("```")[0]);
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
// jsdom has no layout, so no `innerText`, which the renderer writes text through: as textContent.
Object.defineProperty(dom.window.HTMLElement.prototype, "innerText", {
  get() { return this.textContent; },
  set(v) { this.textContent = v; },
});
// The renderer uses the DOM's classes (HTMLButtonElement, Node, ...) as globals, as in a browser.
for (const name of Object.getOwnPropertyNames(dom.window)) {
  if (/^(HTML|SVG|Node$|Element$|Event$|KeyboardEvent$|MouseEvent$|getComputedStyle$)/.test(name) && !(name in globalThis)) {
    globalThis[name] = dom.window[name];
  }
}
// The package's UMD bundle (its `lib/` ES modules import paths without extensions, which Node refuses).
const AC = createRequire(import.meta.url)("adaptivecards/dist/adaptivecards.js");

const fail = (why) => {
  console.error("adaptive card check FAILED: " + why);
  process.exit(1);
};
if (message.type !== "message") fail("not a Teams message: " + message.type);
const attachment = message.attachments?.[0];
if (attachment?.contentType !== "application/vnd.microsoft.card.adaptive") fail("no Adaptive Card attachment");
const json = attachment.content;

const card = new AC.AdaptiveCard();
const context = new AC.SerializationContext();
card.parse(json, context);
const parseErrors = context.eventCount ?? 0;
for (let i = 0; i < parseErrors; i++) {
  const e = context.getEventAt(i);
  console.error("parse:", e.phase, e.event, e.message);
}
if (parseErrors > 0) fail(parseErrors + " parse event(s)");
const validation = card.validateProperties();
for (const e of validation.validationEvents) console.error("validation:", e.phase, e.event, e.message);
if (validation.validationEvents.length > 0) fail(validation.validationEvents.length + " validation event(s)");

// Round trip: what the renderer understood is what we sent (nothing dropped as unknown).
const back = card.toJSON();
if (back.version !== json.version) fail("version " + back.version + " != " + json.version);
if ((back.actions ?? []).length !== json.actions.length) fail("actions lost in parsing");

const el = card.render();
if (!el) fail("render returned nothing");
document.body.appendChild(el);
const text = el.textContent;
const title = json.body[0].text;
if (!text.includes(title)) fail("rendered card lacks its title: " + title);
const buttons = [...el.querySelectorAll("button")].map((b) => (b.getAttribute("aria-label") || b.textContent).trim());
const want = ["Skip this shutdown", "Snooze 30 min", "Snooze 1 h", "Snooze 2 h"];
for (const w of want) {
  if (!buttons.includes(w)) fail("no button '" + w + "' among " + JSON.stringify(buttons));
}
const urls = card.getAllActions().map((a) => a.url);
for (const a of json.actions) {
  if (a.type !== "Action.OpenUrl") fail("action of type " + a.type);
  if (!urls.includes(a.url)) fail("action url lost: " + a.url);
}
console.log(
  `adaptive card ok: version ${json.version}, ${json.body.length} body element(s), ` +
    `buttons ${JSON.stringify(buttons)}, rendered ${el.outerHTML.length} bytes of HTML`
);
