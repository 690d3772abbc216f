// Verbatim from the seed /work/shared/seeds/003_40767b4fbab53576.txt (Promptfoo Enterprise, "Verifying
// Webhook Signatures"): everything below this comment is the seed's code, unchanged,
// including its secret 'your-webhook-secret' (the test gives the webhook that secret). The
// snippet uses an Express app with express.json() without defining it: harness/run.mjs
// defines it as a global before loading this file.
const crypto = require('crypto');
function verifyWebhookSignature(payload, signature, secret) {
const expectedSignature = crypto
.createHmac('sha256', secret)
.update(JSON.stringify(payload))
.digest('hex');
return crypto.timingSafeEqual(Buffer.from(signature), Buffer.from(expectedSignature));
}
// In your webhook handler:
app.post('/webhook-endpoint', (req, res) => {
const payload = req.body;
const signature = req.headers['x-promptfoo-signature'];
const webhookSecret = 'your-webhook-secret';
if (!verifyWebhookSignature(payload, signature, webhookSecret)) {
return res.status(401).send('Invalid signature');
}
// Process the webhook
console.log(`Received ${payload.event} event`);
res.status(200).send('Webhook received');
});
