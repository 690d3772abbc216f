// Verbatim from the seed /work/shared/seeds/001_7aabce96cb995a49.txt (PromptReports, "Signature
// Verification"): everything below this comment is the seed's code, unchanged. The seed's
// snippet uses an Express app with express.json() and WEBHOOK_SECRET without defining them:
// harness/run.mjs defines both as globals before loading this file.
import crypto from 'crypto';
function verifyWebhookSignature(
payload: string,
signature: string,
secret: string
): boolean {
const expectedSignature = crypto
.createHmac('sha256', secret)
.update(payload)
.digest('hex');
return crypto.timingSafeEqual(
Buffer.from(signature),
Buffer.from(expectedSignature)
);
}
// In your webhook handler:
app.post('/webhook', (req, res) => {
const signature = req.headers['x-promptreports-signature'];
const payload = JSON.stringify(req.body);
if (!verifyWebhookSignature(payload, signature, WEBHOOK_SECRET)) {
return res.status(401).json({ error: 'Invalid signature' });
}
// Process the webhook...
res.status(200).json({ received: true });
});
