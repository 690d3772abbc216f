// run.mjs serves one seed receiver: node harness/run.mjs <receiver>.
//
// It copies the receiver's directory to a temporary one next to node_modules/express (the
// stand-in in express.cjs), registers hooks.mjs (for the TypeScript snippets), defines what
// the seed's snippet uses without defining (an Express app with express.json(), and
// WEBHOOK_SECRET from the environment) as globals, loads the seed's code, and serves the
// one app it made on 127.0.0.1 (PORT, or any free port), printing "listening <url>".
// It records every answer: GET /__seed/requests lists them as {status, body}.
import { cpSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire, register } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const receivers = {
  // The first seed's Node receiver (promptd format, x-abv-signature): it makes its own app.
  'abv-node': { dir: '000_abv', file: 'server.ts' },
  'promptreports': { dir: '001_promptreports', file: 'receiver.ts', app: true },
  'promptha': { dir: '002_promptha', file: 'receiver.js' },
  'promptfoo': { dir: '003_promptfoo', file: 'receiver.js', app: true },
  // Not seed code (the seed shows none): a checker of the seed's event names and details.
  'promptlayer': { dir: '004_promptlayer', file: 'checker.mjs' },
};

const name = process.argv[2];
const r = receivers[name];
if (!r) {
  console.error(`usage: node run.mjs <${Object.keys(receivers).join('|')}>`);
  process.exit(2);
}

const here = fileURLToPath(new URL('.', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'seed-receiver-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
cpSync(join(here, '..', r.dir), join(work, r.dir), { recursive: true });
mkdirSync(join(work, 'node_modules', 'express'), { recursive: true });
cpSync(join(here, 'express.cjs'), join(work, 'node_modules', 'express', 'index.js'));

register(pathToFileURL(join(here, 'hooks.mjs')));
const express = createRequire(join(work, 'x.js'))('express');
if (r.app) {
  globalThis.app = express();
  globalThis.app.use(express.json());
}
globalThis.WEBHOOK_SECRET = process.env.WEBHOOK_SECRET;
await import(pathToFileURL(join(work, r.dir, r.file)).href);
if (express.apps.length !== 1) {
  console.error(`${name}: the seed's code made ${express.apps.length} apps, want 1`);
  process.exit(1);
}
const app = express.apps[0];

const answered = [];
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/__seed/requests') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(answered));
    return;
  }
  res.on('finish', () => answered.push({ status: res.statusCode, body: req.rawBody ? req.rawBody.toString('utf8') : '' }));
  app(req, res);
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
