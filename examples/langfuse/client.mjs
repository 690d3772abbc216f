// The Langfuse JS client, unchanged, against promptd. Configure it as for Langfuse:
//
//   LANGFUSE_BASE_URL=http://127.0.0.1:8080       promptd's address
//   LANGFUSE_PUBLIC_KEY=pd_XXXXXXX                the API key's prefix (its first 10 characters)
//   LANGFUSE_SECRET_KEY=pd_XXXXXXX…               the full API key (role editor or admin)
//
// It expects a text prompt movies/critic with version 1 labelled production and version 2
// labelled staging (examples/langfuse/langfuse_test.go creates it through promptd's own
// API), then fetches, compiles, creates, relabels and deletes prompts, printing "ok <step>"
// for each step. Any mismatch throws, and node exits non-zero.
import assert from "node:assert/strict";
import { LangfuseClient } from "@langfuse/client";

const langfuse = new LangfuseClient(); // LANGFUSE_* from the environment
const ok = (step) => console.log(`ok ${step}`);
const run = `${Date.now()}`; // makes the names this run creates its own

// Fetch by label (production is the default) and by version; names in folders.
const critic = await langfuse.prompt.get("movies/critic");
assert.equal(critic.version, 1);
assert.equal(critic.isFallback, false);
assert.ok(critic.labels.includes("production"), `labels ${critic.labels}`);
assert.equal(critic.config.model, "gpt-4o");
assert.equal(critic.compile({ criticLevel: "expert", movie: "Dune" }), "As an expert movie critic, rate Dune out of 10.");
ok("get production");

const v2 = await langfuse.prompt.get("movies/critic", { version: 2 });
assert.equal(v2.version, 2);
assert.equal(v2.compile({ movie: "Alien" }), "Rate Alien, briefly.");
const staging = await langfuse.prompt.get("movies/critic", { label: "staging" });
assert.equal(staging.version, 2);
assert.equal(staging.commitMessage, "shorter");
ok("get by version and label");

// Create a text prompt and a chat prompt; compile both.
const textName = `js-${run}/greeting`;
const text = await langfuse.prompt.create({
  name: textName,
  prompt: "Hello {{name}}, welcome to {{place}}!",
  labels: ["production"],
  tags: ["js"],
  config: { temperature: 0.2 },
  commitMessage: "from the Langfuse JS client",
});
assert.equal(text.version, 1);
assert.deepEqual([...text.labels].sort(), ["latest", "production"]);
assert.deepEqual(text.tags, ["js"]);
assert.equal(text.compile({ name: "Ada", place: "promptd" }), "Hello Ada, welcome to promptd!");
const textBack = await langfuse.prompt.get(textName);
assert.equal(textBack.prompt, "Hello {{name}}, welcome to {{place}}!");
assert.equal(textBack.config.temperature, 0.2);
ok("create text");

const chatName = `js-${run}/assistant`;
const chat = await langfuse.prompt.create({
  name: chatName,
  type: "chat",
  prompt: [
    { role: "system", content: "You are a {{persona}} assistant." },
    { role: "user", content: "{{question}}" },
  ],
  labels: ["production"],
});
assert.equal(chat.type, "chat");
assert.equal(chat.version, 1);
const chatBack = await langfuse.prompt.get(chatName, { type: "chat" });
assert.deepEqual(chatBack.compile({ persona: "kind", question: "What is 2+2?" }), [
  { role: "system", content: "You are a kind assistant." },
  { role: "user", content: "What is 2+2?" },
]);
ok("create chat");

// Move production to version 2; the next uncached fetch sees it.
const updated = await langfuse.prompt.update({ name: "movies/critic", version: 2, newLabels: ["production"] });
assert.equal(updated.version, 2);
assert.deepEqual([...updated.labels].sort(), ["latest", "production", "staging"]);
const moved = await langfuse.prompt.get("movies/critic", { cacheTtlSeconds: 0 });
assert.equal(moved.version, 2);
ok("update labels");

// List, filtered as in Langfuse.
const list = await langfuse.api.prompts.list({ label: "production", limit: 100 });
const names = list.data.map((p) => p.name);
for (const name of ["movies/critic", textName, chatName]) {
  assert.ok(names.includes(name), `${name} not in ${names}`);
}
assert.equal(list.meta.page, 1);
ok("list");

// Delete a version; a prompt that does not exist falls back as the SDK promises.
const second = await langfuse.prompt.create({ name: textName, prompt: "Bye {{name}}" });
assert.equal(second.version, 2);
await langfuse.prompt.delete(textName, { version: 2 });
const fallback = await langfuse.prompt.get(`js-${run}/missing`, { fallback: "Hi {{name}}", maxRetries: 0 });
assert.equal(fallback.isFallback, true);
assert.equal(fallback.compile({ name: "Bob" }), "Hi Bob");
ok("delete and fallback");

// A key pair that does not belong together is a Langfuse-shaped 401.
const wrong = new LangfuseClient({
  baseUrl: process.env.LANGFUSE_BASE_URL,
  publicKey: "pd_notmine",
  secretKey: process.env.LANGFUSE_SECRET_KEY,
});
await assert.rejects(wrong.api.prompts.get("movies/critic"), (err) => {
  assert.equal(err.statusCode, 401);
  assert.equal(err.body.error, "UnauthorizedError");
  assert.match(err.body.message, /Invalid credentials/);
  return true;
});
ok("wrong key pair");

const health = await langfuse.api.health.health();
assert.equal(health.status, "OK");
ok("health");
