// Verbatim from the seed /work/shared/seeds/000_3562b50539bd2c1f.txt (ABV webhooks, "Usage in Express"):
// everything below this comment is the seed's code, unchanged. harness/run.mjs serves the
// app it creates (the seed's snippet does not listen).
import express from 'express';
import { verifyABVSignature } from './verify-signature';

const WEBHOOK_SECRET = process.env.ABV_WEBHOOK_SECRET!;

const app = express();

// Use express.text() to get raw body as string
app.post('/api/webhooks/abv-prompts',
  express.text({ type: 'application/json' }),
  (req, res) => {
    const signature = req.headers['x-abv-signature'] as string;

    // Verify signature
    if (!verifyABVSignature(req.body, signature, WEBHOOK_SECRET)) {
      return res.status(401).json({ error: 'Invalid signature' });
    }

    // Parse JSON after verification
    const payload = JSON.parse(req.body);

    // Process webhook...
    res.json({ status: 'received', event_id: payload.id });
  }
);
