// A minimal promptd webhook receiver: Node.js, no npm dependencies.
//
//   PROMPTD_WEBHOOK_SECRET=whsec_... PORT=9000 node receiver.js
//
// Listens on 127.0.0.1:$PORT (default 9000), accepts POST /hook, verifies the Standard
// Webhooks signature (401 if it fails), skips events it has already processed (200) and
// answers 204 once an event is processed.
"use strict";
const http = require("node:http");
const crypto = require("node:crypto");

const SECRET = process.env.PROMPTD_WEBHOOK_SECRET || "";
const PORT = Number(process.env.PORT || 9000);
const TOLERANCE = 5 * 60; // seconds a signature's timestamp may be off: replay protection
const MAX_BODY = 4 << 20;

if (!SECRET.startsWith("whsec_")) {
  console.error("set PROMPTD_WEBHOOK_SECRET to the webhook's secret (whsec_...)");
  process.exit(1);
}
// Standard Webhooks key: the base64-decoded part after "whsec_".
const KEY = Buffer.from(SECRET.slice("whsec_".length), "base64");

// Event ids already processed. In production keep them in a database or Redis, so that
// they survive restarts and are shared by every replica.
const processedIds = new Set();

// webhook-signature lists "v1,<base64 HMAC-SHA256>" entries (two during a secret
// rotation); the message is "<webhook-id>.<webhook-timestamp>.<raw body>".
function verifyStandardWebhooks(headers, body) {
  const id = headers["webhook-id"];
  const ts = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !/^\d+$/.test(ts || "") || !signatures) return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > TOLERANCE) return false;
  const expected = Buffer.from(
    crypto.createHmac("sha256", KEY).update(`${id}.${ts}.`).update(body).digest("base64"),
  );
  return signatures.split(" ").some((entry) => {
    const [version, sig = ""] = entry.split(",", 2);
    const received = Buffer.from(sig);
    return version === "v1" && received.length === expected.length &&
      crypto.timingSafeEqual(received, expected);
  });
}

// Not used here: the x-promptd-signature check ("t=<unix>,s=<hex>", keyed with the secret
// string itself) for receivers ported from the first seed's product.
function verifyPromptdSignature(rawBody, header, secret) {
  const [t = "", s = ""] = (header || "").split(",").map((p) => p.split("=")[1]);
  const received = Buffer.from(s, "hex");
  const expected = crypto.createHmac("sha256", secret).update(`${t}.`).update(rawBody).digest();
  return received.length === expected.length && crypto.timingSafeEqual(received, expected) &&
    /^\d+$/.test(t) && Math.abs(Date.now() / 1000 - Number(t)) <= TOLERANCE;
}

function reply(res, code, message) {
  res.writeHead(code, { "content-type": "text/plain" }).end(message + "\n");
}

http.createServer((req, res) => {
  if (req.method !== "POST" || req.url !== "/hook") return reply(res, 404, "not found");
  const chunks = [];
  let size = 0;
  req.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(chunk);
  });
  req.on("end", () => {
    const body = Buffer.concat(chunks); // the raw bytes: verify before parsing
    if (!verifyStandardWebhooks(req.headers, body)) return reply(res, 401, "invalid signature");
    let event;
    try {
      event = JSON.parse(body);
    } catch {
      return reply(res, 400, "invalid JSON");
    }

    if (processedIds.has(event.id)) {
      console.log(`duplicate ${event.id}`);
      return reply(res, 200, "already processed");
    }
    const prompt = event.prompt || {};
    // Your logic here: notify a channel, trigger a deploy, sync a catalogue...
    console.log(`processed ${event.id} ${event.type}.${event.action} ${prompt.name ?? "-"} v${prompt.version ?? "-"}`);
    processedIds.add(event.id); // only once processing succeeded
    res.writeHead(204).end();
  });
}).listen(PORT, "127.0.0.1", () => {
  console.error(`listening on http://127.0.0.1:${PORT}/hook`);
});
