'use strict';
// A stand-in for the few parts of Express that the seeds' receivers use, on node:http, so
// that they run without npm: express(), app.use, app.post(path, ...handlers),
// express.json() and express.text({type}) (the body parsed as body-parser does: the whole
// body read, decoded as UTF-8, then JSON.parse for json()), req.headers (lower-case, as
// node gives them), res.status/json/send. A handler that throws answers 500, as Express
// does; an unmatched request answers 404. Every app created is listed in express.apps, so
// that harness/run.mjs can serve the app a seed's code made.
//
// run.mjs copies this file to node_modules/express/index.js next to the seed's code, so
// that the seed's own require('express') / import express from 'express' load it.

const apps = [];

function express() {
  const stack = [];
  const app = (req, res) => handle(stack, req, res);
  app.use = (fn) => {
    stack.push({ method: null, path: null, handlers: [fn] });
    return app;
  };
  app.post = (path, ...handlers) => {
    stack.push({ method: 'POST', path, handlers });
    return app;
  };
  apps.push(app);
  return app;
}

function decorate(res) {
  res.status = (code) => {
    res.statusCode = code;
    return res;
  };
  res.json = (value) => {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(value));
    return res;
  };
  res.send = (value) => {
    if (typeof value === 'object' && value !== null && !Buffer.isBuffer(value)) return res.json(value);
    if (!res.getHeader('Content-Type')) res.setHeader('Content-Type', 'text/html; charset=utf-8');
    res.end(value === undefined ? '' : value);
    return res;
  };
}

function handle(stack, req, res) {
  decorate(res);
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    req.rawBody = Buffer.concat(chunks);
    const path = req.url.split('?')[0];
    const layers = stack.filter((l) => l.method === null || (l.method === req.method && l.path === path));
    const handlers = layers.flatMap((l) => l.handlers);
    if (!layers.some((l) => l.method !== null)) {
      res.status(404).send('Not Found');
      return;
    }
    let i = 0;
    const fail = (err) => {
      console.error(err);
      if (!res.headersSent) res.status(500).send('Internal Server Error');
    };
    const next = (err) => {
      if (err) return fail(err);
      const h = handlers[i++];
      if (!h) {
        if (!res.writableEnded) res.status(404).send('Not Found');
        return;
      }
      try {
        const r = h(req, res, next);
        if (r && typeof r.catch === 'function') r.catch(fail);
      } catch (e) {
        fail(e);
      }
    };
    next();
  });
}

function typeMatches(req, type) {
  const ct = String(req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
  return ct === type;
}

express.json = () => (req, res, next) => {
  if (req.body !== undefined || !typeMatches(req, 'application/json')) return next();
  const text = req.rawBody.toString('utf8');
  if (text.length === 0) {
    req.body = {};
    return next();
  }
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') {
    res.status(400).send('body-parser strict mode: not an object or array');
    return;
  }
  try {
    req.body = JSON.parse(text);
  } catch (e) {
    res.status(400).send('Bad JSON: ' + e.message);
    return;
  }
  next();
};

express.text = (options = {}) => (req, res, next) => {
  if (req.body !== undefined || !typeMatches(req, options.type || 'text/plain')) return next();
  req.body = req.rawBody.toString('utf8');
  next();
};

express.apps = apps;

module.exports = express;
module.exports.default = express;
