// Builds the committed seed corpus of every fuzz target (fuzz/corpus/<target>/) from the
// project's test fixtures: the bundled and broken specs, the providers' documented token
// responses, credential files in each format, and ID tokens signed with fresh keys.
//
//     node fuzz/seed-corpus.mjs
//
// Node.js only (its `crypto` signs the ID tokens); run it again when fixtures change.

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const corpus = path.join(root, "fuzz", "corpus");

/** Write one seed, named by its content's hash as libFuzzer names its own. */
function seed(target, bytes) {
  const dir = path.join(corpus, target);
  fs.mkdirSync(dir, { recursive: true });
  const data = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  const name = crypto.createHash("sha1").update(data).digest("hex");
  fs.writeFileSync(path.join(dir, name), data);
}

const files = (dir, ext) =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(ext)).sort().map((f) => path.join(dir, f)) : [];

for (const target of fs.existsSync(corpus) ? fs.readdirSync(corpus) : []) {
  fs.rmSync(path.join(corpus, target), { recursive: true });
}

// 1. Spec YAML: every bundled spec, the broken and valid test specs, the runtime's test specs.
for (const dir of ["specs", "tests/fixtures/broken", "tests/fixtures/ok", "tests/fixtures/strict", "runtime/tests/specs"]) {
  for (const file of files(path.join(root, dir), ".yaml")) seed("spec_yaml", fs.readFileSync(file));
}

// The fuzz targets pick a bundled spec by index, in the providers crate's order (file names).
const specIds = fs
  .readdirSync(path.join(root, "specs"))
  .filter((f) => f.endsWith(".yaml"))
  .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  .map((f) => f.slice(0, -".yaml".length));
const specIndex = (id) => Math.max(0, specIds.indexOf(id));
// Mirrors `STATUSES` and `CONTENT_TYPES` in fuzz/src/lib.rs.
const STATUSES = [200, 200, 200, 201, 204, 302, 400, 400, 401, 403, 404, 409, 422];
const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/x-www-form-urlencoded",
  "text/plain",
  "text/html",
  null,
];
const answer = (id, status, contentType, body) =>
  Buffer.concat([
    Buffer.from([specIndex(id), Math.max(0, STATUSES.indexOf(status)), Math.max(0, CONTENT_TYPES.indexOf(contentType))]),
    Buffer.from(body),
  ]);

// 2. Token responses: every documented body under tests/fixtures/providers, with the status
// and content type its page shows, at the token and the refresh endpoint.
const providers = path.join(root, "tests", "fixtures", "providers");
for (const id of fs.readdirSync(providers).sort()) {
  for (const file of fs.readdirSync(path.join(providers, id)).sort()) {
    const m = file.match(/^(.*)\.(json|txt)$/);
    if (!m || file.endsWith(".expect.json")) continue;
    const expectPath = path.join(providers, id, `${m[1]}.expect.json`);
    const expect = fs.existsSync(expectPath) ? JSON.parse(fs.readFileSync(expectPath, "utf8")) : {};
    const status = expect.status ?? (expect.error ? 400 : 200);
    const contentType = expect.content_type ?? (m[2] === "json" ? "application/json" : "application/x-www-form-urlencoded");
    const body = fs.readFileSync(path.join(providers, id, file));
    for (const endpoint of [0, 1]) seed("token_response", Buffer.concat([Buffer.from([endpoint]), answer(id, status, contentType, body)]));
  }
}

// 3. Device authorization and introspection answers (RFC 8628 section 3.2, RFC 7662
// section 2.2, and the shapes the runtime's tests use).
const device = [
  '{"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":1800,"interval":5}',
  '{"device_code":"dc-1","user_code":"WDJB-MJHT","verification_url":"https://example.test/device","expires_in":30}',
  '{"error":"invalid_client","error_description":"client authentication failed"}',
];
const introspection = [
  '{"active":true,"client_id":"l238j323ds-23ij4","username":"jdoe","scope":"read write dolphin","sub":"Z5O3upPC88QrAjx00dis","aud":"https://protected.example.net/resource","iss":"https://server.example.com/","exp":1419356238,"iat":1419350238,"extension_field":"twenty-seven"}',
  '{"active":false}',
];
for (const body of [...device, ...introspection]) {
  for (const id of ["github", "google", "okta", "microsoft", "twitch", "slack"]) {
    seed("device_introspection", answer(id, body.includes("error") ? 400 : 200, "application/json", body));
  }
}

// 4. Callbacks: query strings, URLs, and raw loopback requests in reads of a few sizes.
const queries = [
  "code=4%2F0AX4XfWh&state=af0ifjsldkj&scope=openid%20email",
  "error=access_denied&error_description=The+user+refused&state=af0ifjsldkj",
  "code=abc&state=xyz&accounts-server=https%3A%2F%2Faccounts.zoho.eu&location=eu",
  "code=abc&code=def&state=xyz",
  "state=&code=",
];
for (const q of queries) {
  seed("callback", Buffer.concat([Buffer.from([0]), Buffer.from(q)]));
  seed("callback", Buffer.concat([Buffer.from([0]), Buffer.from(`http://127.0.0.1:8085/callback?${q}`)]));
  for (const size of [1, 7, 4096 % 256]) {
    const head = `GET /callback?${q} HTTP/1.1\r\nHost: 127.0.0.1:8085\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html\r\n\r\n`;
    seed("callback", Buffer.concat([Buffer.from([size]), Buffer.from(head)]));
  }
}
seed("callback", Buffer.concat([Buffer.from([3]), Buffer.from("GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")]));

// 5. Credential files in each format the runtime reads.
const rsaDer = fs.readFileSync(path.join(root, "runtime", "tests", "keys", "rsa1.der"));
const rsa = crypto.createPrivateKey({ key: rsaDer, format: "der", type: "pkcs1" });
const pkcs1 = rsa.export({ format: "pem", type: "pkcs1" });
const pkcs8 = rsa.export({ format: "pem", type: "pkcs8" });
const credentialFiles = [
  pkcs1,
  pkcs8,
  JSON.stringify({
    type: "service_account",
    project_id: "fuzz-project",
    private_key_id: "abc123",
    private_key: pkcs8,
    client_email: "fuzz@fuzz-project.iam.gserviceaccount.com",
    client_id: "1234567890",
    token_uri: "https://oauth2.googleapis.com/token",
  }),
  JSON.stringify({
    type: "authorized_user",
    client_id: "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",
    client_secret: "d-FL95Q19q7MQmFpd7hHD0Ty",
    refresh_token: "1//0fake-refresh",
    quota_project_id: "fuzz-project",
  }),
  JSON.stringify({
    access_token: "ya29.fake",
    client_id: "client.apps.googleusercontent.com",
    client_secret: "secret",
    refresh_token: "1//0fake",
    token_expiry: "2026-11-30T10:00:00Z",
    token_uri: "https://oauth2.googleapis.com/token",
    user_agent: null,
    revoke_uri: "https://oauth2.googleapis.com/revoke",
    id_token: null,
    id_token_jwt: null,
    token_response: { access_token: "ya29.fake", expires_in: 3599, token_type: "Bearer" },
    scopes: ["https://www.googleapis.com/auth/userinfo.email"],
    token_info_uri: null,
    invalid: false,
    _class: "OAuth2Credentials",
    _module: "oauth2client.client",
  }),
  JSON.stringify({
    "github:alice": {
      access_token: "gho_fake",
      token_type: "bearer",
      refresh_token: "ghr_fake",
      expires_at: "2026-11-30T10:00:00Z",
      issued_at: "2026-11-30T09:00:00Z",
      scopes: ["repo", "gist"],
      extra: { instance_url: "https://acme.my.salesforce.com" },
      invalid: false,
    },
    // DPoP-bound (RFC 9449): the key, a P-256 PKCS#8 (a fixed test key), kept with the tokens.
    "keycloak:bob": {
      access_token: "eyJ.fake",
      token_type: "DPoP",
      refresh_token: "eyJ.fake-refresh",
      scopes: ["openid"],
      invalid: false,
      dpop_key: "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCQYC1MQBCbNw5nh8bWxMftwdMZ5Vh5rIMvSo5YD8VEyhRANCAARXbaYvRvkMm3GOKRi20oBgtjwMrZnb7UhwgvMl3wsTEv4uZGX0pYFcCRTMSujuJM6UoRkeeHr6xoo65HSk9ka7",
    },
  }),
  "",
];
for (const text of credentialFiles) seed("credential_files", text);

// 6. ID tokens with their JWK sets: RS256, ES256 and EdDSA keys, tokens valid at the
// target's fixed time and with its issuer, audience and nonce, plus one with a wrong key id.
const b64 = (b) => Buffer.from(b).toString("base64url");
const now = 1_800_000_000;
const claims = { iss: "https://op.example", aud: "fuzz-client", sub: "248289761001", nonce: "fuzz-nonce", iat: now, exp: now + 3600 };
const keys = [
  { alg: "RS256", kid: "rsa-1", key: rsa, sign: (data) => crypto.sign("sha256", data, rsa) },
  (() => {
    const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
    return { alg: "ES256", kid: "ec-1", key: privateKey, sign: (data) => crypto.sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" }) };
  })(),
  (() => {
    const { privateKey } = crypto.generateKeyPairSync("ed25519");
    return { alg: "EdDSA", kid: "ed-1", key: privateKey, sign: (data) => crypto.sign(null, data, privateKey) };
  })(),
];
const jwks = JSON.stringify({
  keys: keys.map(({ alg, kid, key }) => ({ ...crypto.createPublicKey(key).export({ format: "jwk" }), alg, kid, use: "sig" })),
});
for (const { alg, kid, sign } of keys) {
  for (const header of [{ alg, kid, typ: "JWT" }, { alg, kid: "unknown" }, { alg }]) {
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    const token = `${input}.${b64(sign(Buffer.from(input)))}`;
    const length = Buffer.alloc(2);
    length.writeUInt16BE(Buffer.byteLength(jwks));
    seed("id_token", Buffer.concat([length, Buffer.from(jwks), Buffer.from(token)]));
  }
}

for (const target of fs.readdirSync(corpus).sort()) {
  console.log(`${target}: ${fs.readdirSync(path.join(corpus, target)).length} seeds`);
}
