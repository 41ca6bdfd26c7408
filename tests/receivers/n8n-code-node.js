// Runs the vendored n8n Code-node snippet (n8n-hmac-check.js) the way n8n does: the
// parsed webhook body is $json, the request headers (lower-case names) are $headers,
// and the snippet's top-level `return` ends the node. Reads one JSON object on stdin:
// {"body": "<raw body as received>", "headers": {...}}; prints "ok" or exits 1.
const fs = require("fs");
const path = require("path");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const headers = {};
for (const [name, value] of Object.entries(input.headers)) headers[name.toLowerCase()] = value;
const snippet = fs.readFileSync(path.join(__dirname, "n8n-hmac-check.js"), "utf8");
const node = new Function("require", "$json", "$headers", snippet);
try {
  node(require, JSON.parse(input.body), headers);
  console.log("ok");
} catch (error) {
  console.log(error.message);
  process.exit(1);
}
