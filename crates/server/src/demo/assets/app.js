// The Gravida demo page: plays the EHR. It lists the synthetic patients, fires patient-view when
// one is opened and order-select / order-sign from the order panel, renders the cards the way
// EHRs show them, and posts real feedback. Every hook call goes to this origin's
// /cds-services with fhirServer = the demo FHIR endpoint and no prefetch, so the service fetches
// the records itself.
//
// Safety: nothing from a card or a response is ever assigned to innerHTML. Text goes into the
// page through textContent and createElement only, and card Markdown is parsed by markdown-it
// into tokens that are built into DOM nodes below, so a card cannot inject markup. Links are kept
// only if they are http(s).
"use strict";

const SERVICES = {
  "patient-view": "gravida-patient-view",
  "order-select": "gravida-order-select",
  "order-sign": "gravida-order-sign",
};

let config = null; // { fhirServer, patients: [...] }
let current = null; // the open patient

// ---- small DOM helpers -------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function $(id) {
  return document.getElementById(id);
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function safeUrl(raw) {
  try {
    const url = new URL(raw, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (_) {
    return null;
  }
}

// ---- card Markdown -----------------------------------------------------------------------
// A card's detail is GitHub-flavoured Markdown (CDS Hooks 2.0). markdown-it (vendored beside this
// file, see markdown-it.LICENSE) parses it by CommonMark's rules, as an EHR's renderer would:
// backslash escapes ("50 mg\/m2" is "50 mg/m2"), entities, emphasis, lists, tables, code. Raw
// HTML is off, so "<img onerror=...>" in a card is a text token. The tokens become DOM nodes
// here, from a fixed list of tags and with no attribute but a checked href: the page never
// parses anything a card says as HTML.

const markdown = window.markdownit({ html: false, linkify: false, typographer: false });

// The elements a card may produce; a tag outside this list becomes a plain span or div.
const MARKDOWN_TAGS = new Set([
  "p", "ul", "ol", "li", "strong", "em", "s", "code", "pre", "blockquote", "hr", "br",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
]);

function renderMarkdown(source) {
  const root = el("div", { class: "detail" });
  appendTokens(root, markdown.parse(String(source || ""), {}));
  return root;
}

// Appends a token stream under `root`: an opening token pushes an element, its closing token
// pops it, an "inline" token's children are a stream of their own inside the current element.
// This is what markdown-it's own renderer does, with DOM nodes instead of an HTML string.
function appendTokens(root, tokens) {
  const open = [root];
  for (const token of tokens) {
    const parent = open[open.length - 1];
    if (token.nesting === 1) {
      // A tight list's paragraphs are hidden: their text goes straight into the item.
      const node = token.hidden ? parent : openElement(token);
      if (node !== parent) parent.append(node);
      open.push(node);
    } else if (token.nesting === -1) {
      if (open.length > 1) open.pop();
    } else if (token.type === "inline") {
      appendTokens(parent, token.children || []);
    } else {
      const node = leaf(token);
      if (node) parent.append(node);
    }
  }
}

function openElement(token) {
  if (token.type === "link_open") {
    const href = safeUrl(token.attrGet("href") || "");
    return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }) : el("span");
  }
  if (MARKDOWN_TAGS.has(token.tag)) return el(token.tag);
  return el(token.block ? "div" : "span");
}

// A token that opens nothing: text, code, a break, a rule, or an image (shown as its alt text).
function leaf(token) {
  switch (token.type) {
    case "softbreak":
      return document.createTextNode("\n");
    case "hardbreak":
      return el("br");
    case "hr":
      return el("hr");
    case "code_inline":
      return el("code", {}, token.content);
    case "code_block":
    case "fence":
      return el("pre", {}, el("code", {}, token.content));
    default:
      // text, image (its content is the alt text), and html_* should raw HTML ever be turned on.
      return token.content ? document.createTextNode(token.content) : null;
  }
}

// ---- patients -----------------------------------------------------------------------------

async function loadPatients() {
  const response = await fetch("/demo/patients.json");
  config = await response.json();
  const list = $("patient-list");
  for (const patient of config.patients) {
    const button = el(
      "button",
      { type: "button", "data-patient": patient.id, title: patient.narrative },
      el("span", { class: "pid" }, patient.id),
      " ",
      el("span", { class: "story" }, patient.title),
    );
    button.addEventListener("click", () => openPatient(patient));
    list.append(el("li", {}, button));
  }
}

function openPatient(patient) {
  current = patient;
  for (const b of document.querySelectorAll("[data-patient]")) {
    b.setAttribute("aria-current", String(b.dataset.patient === patient.id));
  }
  $("empty").hidden = true;
  $("chart").hidden = false;
  $("patient-name").textContent = `Patient ${patient.id}`;
  $("patient-story").textContent = patient.narrative || patient.title;
  renderOrders(patient);
  callHook("patient-view", { userId: "Practitioner/demo", patientId: patient.id });
}

// ---- orders -------------------------------------------------------------------------------

// The order catalog: a methotrexate draft, an ultrasound, a serum hCG. Patients whose scenario
// was written for an order hook bring their own draft orders too.
function catalog(patient) {
  const subject = { reference: `Patient/${patient.id}` };
  const today = new Date().toISOString().slice(0, 10);
  const orders = [
    {
      resourceType: "MedicationRequest", id: "demo-mtx", status: "draft", intent: "order", subject, authoredOn: today,
      medicationCodeableConcept: {
        text: "methotrexate 50 mg/m2 IM injection, single dose",
        coding: [{ system: "http://www.nlm.nih.gov/research/umls/rxnorm", code: "6851", display: "methotrexate" }],
      },
    },
    {
      resourceType: "ServiceRequest", id: "demo-tvus", status: "draft", intent: "order", subject, authoredOn: today,
      code: { text: "Transvaginal ultrasound, pregnant uterus", coding: [{ system: "http://www.ama-assn.org/go/cpt", code: "76817" }] },
    },
    {
      resourceType: "ServiceRequest", id: "demo-hcg", status: "draft", intent: "order", subject, authoredOn: today,
      code: { text: "hCG, quantitative, serum", coding: [{ system: "http://loinc.org", code: "21198-7" }] },
    },
  ];
  const own = (patient.draftOrders?.entry || []).map((e) => e.resource).filter(Boolean);
  return [...own, ...orders];
}

function orderLabel(resource) {
  const concept = resource.medicationCodeableConcept || resource.code || {};
  return concept.text || concept.coding?.[0]?.display || `${resource.resourceType}/${resource.id}`;
}

function renderOrders(patient) {
  const list = $("order-list");
  list.replaceChildren();
  for (const resource of catalog(patient)) {
    const box = el("input", { type: "checkbox", "data-order": `${resource.resourceType}/${resource.id}` });
    box.addEventListener("change", () => {
      if (box.checked) {
        callHook("order-select", {
          userId: "Practitioner/demo",
          patientId: patient.id,
          selections: [`${resource.resourceType}/${resource.id}`],
          draftOrders: draftBundle(),
        });
      }
    });
    box.resource = resource;
    list.append(el("li", {}, el("label", {}, box, " ", orderLabel(resource))));
  }
}

function draftBundle() {
  const entries = [...document.querySelectorAll("[data-order]")]
    .filter((b) => b.checked)
    .map((b) => ({ resource: b.resource }));
  return { resourceType: "Bundle", type: "collection", entry: entries };
}

// ---- hook calls ---------------------------------------------------------------------------

function callHook(hook, context) {
  const request = {
    hook,
    hookInstance: uuid(),
    fhirServer: config.fhirServer,
    context,
  };
  $("request-json").value = JSON.stringify(request, null, 2);
  return send(SERVICES[hook], $("request-json").value);
}

let lastService = null;

async function send(service, body) {
  lastService = service;
  setStatus(`Calling ${service}…`);
  $("cards").replaceChildren();
  let response;
  let text;
  try {
    response = await fetch(`/cds-services/${service}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    text = await response.text();
  } catch (e) {
    setStatus(`The service did not answer: ${e}`, true);
    return;
  }
  $("response-status").textContent = `${response.status} ${response.statusText}`;
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (_) {
    /* shown as text below */
  }
  $("response-json").textContent = json ? JSON.stringify(json, null, 2) : text;
  if (!response.ok) {
    // Errors are FHIR OperationOutcomes: the first issue's diagnostics says what is wrong.
    const diagnostics = json?.issue?.[0]?.diagnostics;
    const message = diagnostics ? `: ${diagnostics}` : "";
    setStatus(`${service} answered ${response.status}${message}`, true);
    return;
  }
  const cards = json?.cards || [];
  setStatus(`${service}: ${cards.length} card${cards.length === 1 ? "" : "s"}`);
  renderCards(service, cards);
}

function setStatus(text, error) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(error));
}

// ---- cards --------------------------------------------------------------------------------

const INDICATORS = { info: "Info", warning: "Warning", critical: "Critical" };

function renderCards(service, cards) {
  const container = $("cards");
  container.replaceChildren();
  if (!cards.length) {
    container.append(el("p", { class: "no-cards", "data-testid": "no-cards" }, "No cards: nothing needs attention."));
    return;
  }
  for (const card of cards) container.append(renderCard(service, card));
}

function renderCard(service, card) {
  const indicator = INDICATORS[card.indicator] ? card.indicator : "info";
  const node = el("article", { class: `card ${indicator}`, "data-testid": "card" });
  node.append(
    el("div", {}, el("span", { class: "indicator" }, INDICATORS[indicator]), el("span", { class: "summary" }, card.summary || "")),
  );
  if (card.detail) node.append(renderMarkdown(card.detail));

  const actions = el("div", { class: "actions" });
  for (const suggestion of card.suggestions || []) {
    const shown = el("pre", { class: "resource", hidden: "" });
    const button = el("button", { type: "button", class: "suggestion" }, suggestion.label || "Suggestion");
    button.addEventListener("click", () => {
      shown.textContent = (suggestion.actions || [])
        .map((a) => `${a.type} ${a.description || ""}\n${JSON.stringify(a.resource ?? a.resourceId ?? null, null, 2)}`)
        .join("\n\n");
      shown.hidden = !shown.hidden;
      if (!button.classList.contains("accepted")) {
        button.classList.add("accepted");
        postFeedback(service, {
          card: card.uuid,
          outcome: "accepted",
          acceptedSuggestions: [{ id: suggestion.uuid }],
          outcomeTimestamp: new Date().toISOString(),
        }, node);
      }
    });
    actions.append(button);
    node.append(shown);
  }
  if ((card.overrideReasons || []).length || card.uuid) {
    const button = el("button", { type: "button", class: "override" }, "Dismiss…");
    button.addEventListener("click", () => {
      button.disabled = true;
      node.append(overrideForm(service, card, node));
    });
    actions.append(button);
  }
  node.append(actions);
  // The shown resources go after the buttons so they open below them.
  for (const pre of node.querySelectorAll("pre.resource")) node.append(pre);

  const links = (card.links || []).map((link) => {
    const href = safeUrl(link.url);
    return href ? el("a", { href, target: "_blank", rel: "noopener noreferrer" }, link.label || href) : null;
  }).filter(Boolean);
  if (links.length) node.append(el("div", { class: "links" }, ...links));

  const source = card.source || {};
  const sourceUrl = safeUrl(source.url || "");
  node.append(
    el("div", { class: "source" }, "Source: ",
      sourceUrl ? el("a", { href: sourceUrl, target: "_blank", rel: "noopener noreferrer" }, source.label || sourceUrl) : (source.label || "")),
  );
  return node;
}

function overrideForm(service, card, node) {
  const select = el("select", { "aria-label": "Override reason" }, el("option", { value: "" }, "Choose a reason…"));
  (card.overrideReasons || []).forEach((reason, i) => select.append(el("option", { value: String(i) }, reason.display || reason.code)));
  const comment = el("input", { type: "text", placeholder: "Comment (optional)", "aria-label": "Comment" });
  const submit = el("button", { type: "button" }, "Override");
  submit.addEventListener("click", () => {
    const reason = card.overrideReasons?.[Number(select.value)];
    const overrideReason = {};
    if (select.value !== "" && reason) overrideReason.reason = reason;
    if (comment.value.trim()) overrideReason.userComment = comment.value.trim();
    postFeedback(service, {
      card: card.uuid,
      outcome: "overridden",
      overrideReason,
      outcomeTimestamp: new Date().toISOString(),
    }, node);
  });
  return el("div", { class: "override-form" }, select, comment, submit);
}

async function postFeedback(service, item, node) {
  const note = el("div", { class: "source" }, "Sending feedback…");
  node.append(note);
  try {
    const response = await fetch(`/cds-services/${service}/feedback`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ feedback: [item] }),
    });
    note.textContent = response.ok ? `Feedback (${item.outcome}) recorded.` : `Feedback refused: ${response.status}`;
  } catch (e) {
    note.textContent = `Feedback not sent: ${e}`;
  }
}

// ---- start --------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("sign").addEventListener("click", () => {
    if (!current) return;
    callHook("order-sign", { userId: "Practitioner/demo", patientId: current.id, draftOrders: draftBundle() });
  });
  $("resend").addEventListener("click", () => {
    let service = lastService;
    try {
      service = SERVICES[JSON.parse($("request-json").value).hook] || lastService;
    } catch (_) {
      /* an unparsable request goes to the last service, which answers 400 */
    }
    send(service, $("request-json").value);
  });
  loadPatients().catch((e) => setStatus(`Could not load the patients: ${e}`, true));
});
