// Verbatim from the seed /work/shared/seeds/002_f9432bc6f1b9c339.txt (Promptha, "Basic Handler
// (Express)"): everything below this comment is the seed's code, unchanged. It reads the
// secret from process.env.WEBHOOK_SECRET; harness/run.mjs serves the app it creates.
const express = require('express');
const crypto = require('crypto');
const app = express();
app.use(express.json());
// Middleware to verify webhook signature
function verifySignature(req, res, next) {
const signature = req.headers['x-promptha-signature'];
const timestamp = req.headers['x-promptha-timestamp'];
const payload = JSON.stringify(req.body);
// Verify timestamp is recent (prevent replay attacks)
const now = Math.floor(Date.now() / 1000);
if (Math.abs(now - parseInt(timestamp)) > 300) {
return res.status(401).send('Timestamp too old');
}
// Verify signature
const expectedSignature = crypto
.createHmac('sha256', process.env.WEBHOOK_SECRET)
.update(`${timestamp}.${payload}`)
.digest('hex');
if (signature !== expectedSignature) {
return res.status(401).send('Invalid signature');
}
next();
}
// Webhook endpoint
app.post('/webhooks/promptha', verifySignature, async (req, res) => {
const { event, data, timestamp } = req.body;
console.log(`Received event: ${event}`, data);
try {
await handleEvent(event, data);
res.status(200).send('OK');
} catch (error) {
console.error('Webhook handling failed:', error);
res.status(500).send('Internal error');
}
});
async function handleEvent(event, data) {
switch (event) {
case 'fabric.completed':
await handleFabricComplete(data);
break;
case 'fabric.failed':
await handleFabricFailed(data);
break;
case 'ask.message':
await handleAskMessage(data);
break;
case 'credits.low':
await handleLowCredits(data);
break;
default:
console.log('Unhandled event:', event);
}
}
