// Vendored verbatim from the product description, n8n workflow, step 4 (HMAC check).
// tests/unit/test_webhook_reference_copies.py checks it still matches; do not edit.
// n8n-code-node.js runs it as an n8n Code node would ($json, $headers in scope).
const crypto = require('crypto');
const secret = 'your-webhook-secret';
const body = JSON.stringify($json);
const expected = crypto
  .createHmac('sha256', secret)
  .update(body, 'utf8')
  .digest('hex');
const received = $headers['x-signature']?.replace('sha256=', '');

if (received !== expected) {
  throw new Error('Invalid webhook signature');
}

return $json;
