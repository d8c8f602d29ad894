// A real OpenID Connect provider for oauthgen's end-to-end tests.
//
// Listens on 127.0.0.1, port 0, and prints one JSON line `{"issuer": "..."}` once
// ready. Interactions are answered by the server itself: every authorization request is
// logged in as `user-1` and consented, except when `login_hint=deny`, which is refused with
// `access_denied`. Errors are rendered as JSON. Stop it by closing its standard input.
// Test switch: after `POST /test/interactive-consent`, the interaction is a consent page
// whose form must be submitted (POST /interaction/UID) before the user is sent back, so the
// last hop to the client is started from this server's own page, as with a real provider.
// With `?click=script`, the page clicks its button itself (for a headless browser), as does
// the RP-initiated logout page (GET /session/end) then.
// Test switch: after `POST /test/forge-id-token?kind=KIND`, every token response carries a
// forged ID token instead of the real one (`kind=none` switches back): `foreign-key` (the
// real header and claims signed by a key not in the JWKS), `audience`, `expired` or `nonce`
// (one claim changed, signed with the real key), `alg-none` (unsigned), `hs256` (HMAC keyed
// with the provider's public JWK: the key-confusion attack).
// Pushed authorization requests (RFC 9126, POST /request): `par-client` must push its
// authorization request first; a plain one is refused.
// DPoP (RFC 9449): `dpop-client` only gets DPoP-bound access tokens. Test switch: after
// `POST /test/dpop-nonce?required=true`, the provider wants a nonce of its own in every DPoP
// proof (`use_dpop_nonce` and a `DPoP-Nonce` header otherwise); `required=false` switches back.
// Test resource server: GET or POST /test/resource takes `Authorization: DPoP TOKEN` with a
// `DPoP` proof (checked in full), or a token not bound to a key as `Authorization: Bearer
// TOKEN`; it answers `{"sub", "client_id", "scheme", "method", "nonce"}`, or 401 with a
// `WWW-Authenticate: DPoP error=...` header. GET /test/resource-log lists each request's
// `{"status", "error"}`. Test switch: after `POST /test/resource-nonce?required=true`, it wants
// a nonce of its own in each proof (401 `use_dpop_nonce` and a `DPoP-Nonce` header otherwise);
// every call of that switch forgets the nonces handed out before it.
// Certificate credentials as Microsoft Entra ID takes them: `cert-client` authenticates with
// `private_key_jwt` signed PS256 only, by the key of `runtime/tests/keys/client-rsa.pem` (its
// public half registered; oidc-provider does not read the `x5t#S256` header).
// Token exchange (RFC 8693): `basic-client`, `post-client` and `jwt-client` may exchange an
// access token of this provider for another; GET /test/exchanges lists each request's
// parameters (never the tokens).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import Provider, { errors } from 'oidc-provider';

// The provider's signing key (its JWKS), and a key it does not publish, for forgeries.
const rsaJwk = (kid) => ({
  ...crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid, use: 'sig', alg: 'RS256',
});
const signingKey = rsaJwk('test-signing-key');
// Made on first use: key generation is slow on a busy machine, and most runs never forge.
let foreignKey;
const publicJwk = { kty: signingKey.kty, n: signingKey.n, e: signingKey.e, kid: signingKey.kid, use: 'sig', alg: 'RS256' };

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const unb64 = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());

// `token` (a real ID token) forged as `kind` says.
function forge(token, kind) {
  const [h, p] = token.split('.');
  const header = unb64(h);
  const claims = unb64(p);
  const now = Math.floor(Date.now() / 1000);
  let key = signingKey;
  if (kind === 'foreign-key') key = foreignKey ||= rsaJwk('test-signing-key');
  else if (kind === 'audience') claims.aud = 'someone-else';
  else if (kind === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  else if (kind === 'nonce') claims.nonce = 'forged-nonce';
  else if (kind === 'alg-none') return `${b64({ alg: 'none', kid: header.kid })}.${b64(claims)}.`;
  if (kind === 'hs256') {
    const input = `${b64({ alg: 'HS256', kid: header.kid })}.${b64(claims)}`;
    return `${input}.${crypto.createHmac('sha256', JSON.stringify(publicJwk)).update(input).digest('base64url')}`;
  }
  const input = `${b64(header)}.${b64(claims)}`;
  const signature = crypto.sign('sha256', Buffer.from(input), crypto.createPrivateKey({ key, format: 'jwk' }));
  return `${input}.${signature.toString('base64url')}`;
}

// The `private_key_jwt` client's key (a test key, committed): the provider knows its public half.
const clientKey = JSON.parse(fs.readFileSync(new URL('./client-key.json', import.meta.url), 'utf8'));
const { d: _private, ...clientPublicJwk } = clientKey;
// The `cert-client`'s RSA key (a test key with its certificate, committed with the runtime's
// tests): the provider knows its public half.
const certClientPem = fs.readFileSync(new URL('../../runtime/tests/keys/client-rsa.pem', import.meta.url), 'utf8');
const certClientJwk = { ...crypto.createPublicKey(certClientPem).export({ format: 'jwk' }), use: 'sig' };
// The `client_secret_jwt` client's secret (HS256 wants at least 32 bytes).
const secretJwtSecret = 'client-secret-jwt-test-secret-0123456789';

const host = '127.0.0.1';
const accessTtl = Number(process.env.ACCESS_TOKEN_TTL || 3600);
const redirectUris = ['http://127.0.0.1/callback', 'http://127.0.0.1/oauth2callback'];
// RP-initiated logout returns here (any port: loopback URIs of native clients).
const postLogoutRedirectUris = ['http://127.0.0.1/oauth2callback/signedout'];
const deviceCode = 'urn:ietf:params:oauth:grant-type:device_code';
const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials', deviceCode];
const tokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
const exchangeGrantTypes = [...grantTypes, tokenExchange];
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';
// The algorithms the test resource server takes for DPoP proofs (asymmetric only).
const dpopAlgs = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256'];

const server = http.createServer();
let interactiveConsent = false;
let scriptClick = false;
let tokenNonceRequired = false;

server.listen(0, host, () => {
  const issuer = `http://${host}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'basic-client', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic',
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: exchangeGrantTypes },
      { client_id: 'post-client', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post',
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: exchangeGrantTypes },
      { client_id: 'jwt-client', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [clientPublicJwk] },
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: exchangeGrantTypes },
      { client_id: 'cert-client', token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'PS256',
        jwks: { keys: [certClientJwk] },
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: grantTypes },
      { client_id: 'par-client', client_secret: 'par-secret', token_endpoint_auth_method: 'client_secret_basic',
        require_pushed_authorization_requests: true,
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: grantTypes },
      { client_id: 'dpop-client', client_secret: 'dpop-secret', token_endpoint_auth_method: 'client_secret_basic',
        dpop_bound_access_tokens: true,
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: grantTypes },
      { client_id: 'secret-jwt-client', client_secret: secretJwtSecret, token_endpoint_auth_method: 'client_secret_jwt',
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: grantTypes },
      { client_id: 'public-client', token_endpoint_auth_method: 'none',
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris,
        grant_types: ['authorization_code', 'refresh_token', deviceCode] },
    ],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'email', 'profile', 'offline_access'],
    jwks: { keys: [signingKey] },
    // DPoP proofs are taken with the same algorithms at the provider and the resource server.
    enabledJWA: { dPoPSigningAlgValues: dpopAlgs },
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, email: `${id}@example.test`, email_verified: true, name: 'Test User' }),
    }),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      deviceFlow: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      // Nonces are made and checked statelessly with this secret, each good for a short while.
      dPoP: { enabled: true, nonceSecret: crypto.randomBytes(32), requireNonce: (ctx) => tokenNonceRequired },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = `<!doctype html><title>Sign out</title><h1>Sign out of the test provider?</h1>${form}
<button id="logout" type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
${scriptClick ? '<script>document.getElementById("logout").click()</script>' : ''}`;
        },
      },
    },
    pkce: { required: () => true },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    ttl: { AccessToken: accessTtl, ClientCredentials: accessTtl },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(out);
    },
  });
  provider.proxy = false;

  // Token exchange (RFC 8693): an access token of this provider (the subject) for a new one,
  // for the same user, issued to the client asking. Each request's parameters, without the
  // tokens themselves: GET /test/exchanges.
  const exchanges = [];
  // An error of oidc-provider's with a description of ours (some take none as an argument).
  const described = (error, description) => Object.assign(error, { error_description: description });
  const findAccessToken = async (value) => {
    const token = await provider.AccessToken.find(value);
    return token && !token.isExpired ? token : undefined;
  };
  provider.registerGrantType(tokenExchange, async (ctx) => {
    const { params, client } = ctx.oidc;
    exchanges.push({
      subject_token_type: params.subject_token_type ?? null,
      actor_token_type: params.actor_token_type ?? null,
      requested_token_type: params.requested_token_type ?? null,
      audience: params.audience ?? null,
      resource: params.resource ?? null,
      scope: params.scope ?? null,
      has_actor_token: params.actor_token !== undefined,
      client_id: client.clientId,
    });
    for (const name of ['subject_token', 'subject_token_type']) {
      if (!params[name]) throw new errors.InvalidRequest(`missing required parameter '${name}'`);
    }
    if (params.subject_token_type !== accessTokenType) {
      throw new errors.InvalidRequest(`unsupported subject_token_type, only ${accessTokenType} is`);
    }
    if (!params.actor_token !== !params.actor_token_type) {
      throw new errors.InvalidRequest('actor_token and actor_token_type must come together');
    }
    if (params.requested_token_type !== undefined && params.requested_token_type !== accessTokenType) {
      throw new errors.InvalidRequest(`unsupported requested_token_type, only ${accessTokenType} is`);
    }
    const subject = await findAccessToken(params.subject_token);
    if (!subject) throw described(new errors.InvalidGrant(), 'subject_token is invalid or expired');
    // Other kinds of actor token are taken as they come, unchecked.
    if (params.actor_token_type === accessTokenType && !await findAccessToken(params.actor_token)) {
      throw described(new errors.InvalidGrant(), 'actor_token is invalid or expired');
    }
    const granted = subject.scopes;
    let { scope } = subject;
    if (params.scope !== undefined) {
      const extra = params.scope.split(' ').filter((value) => value && !granted.has(value));
      if (extra.length) {
        throw new errors.InvalidScope('requested scope is not a subset of the subject token\'s', extra.join(' '));
      }
      scope = params.scope;
    }
    const token = new provider.AccessToken({
      accountId: subject.accountId, client, scope: scope || undefined, gty: 'token_exchange',
    });
    // A single audience value only (InvalidTarget otherwise); resource is only recorded.
    if (params.audience !== undefined) token.setAudience(params.audience);
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: accessTokenType,
      token_type: 'Bearer',
      expires_in: token.expiration,
      ...(token.scope ? { scope: token.scope } : {}),
    };
  }, ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type',
    'audience', 'resource', 'scope'], ['audience', 'resource']);

  // The test resource server (RFC 9449 section 7, RFC 6750), at GET and POST /test/resource.
  // Each request's outcome, in order: GET /test/resource-log.
  const resourceLog = [];
  // The `jti` of every proof taken, against replays.
  const seenJtis = new Set();
  // Nonces this resource server handed out, with `POST /test/resource-nonce` forgetting them.
  let resourceNonceRequired = false;
  let resourceNonces = new Set();
  const resourceUrl = `${issuer}/test/resource`;
  const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
  // A refused request: its error code and description (kept fit for a quoted string).
  class Refusal extends Error {
    constructor(error, description) {
      super(description.replace(/["\\]/g, "'"));
      this.error = error;
    }
  }
  // The proof in `header` for a request with `token`, checked in full; its claims.
  async function checkProof(ctx, header, token) {
    const bad = (reason) => new Refusal('invalid_dpop_proof', reason);
    if (!header) throw bad('missing DPoP proof');
    // Node joins repeated headers with commas, which a JWS never holds.
    if (header.includes(',')) throw bad('more than one DPoP proof');
    let protectedHeader;
    let payload;
    try {
      ({ protectedHeader, payload } = await jwtVerify(header, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: dpopAlgs }));
    } catch (cause) {
      throw bad(`invalid DPoP proof JWT: ${cause.message}`);
    }
    const { jwk } = protectedHeader;
    if (privateMembers.some((member) => member in jwk)) throw bad('the jwk header must hold a public key only');
    if (payload.htm !== ctx.method) throw bad('htm mismatch');
    if (payload.htu !== resourceUrl) throw bad('htu mismatch');
    if (typeof payload.iat !== 'number' || Math.abs(Math.floor(Date.now() / 1000) - payload.iat) > 60) {
      throw bad('iat is missing or not within 60 seconds of now');
    }
    if (typeof payload.jti !== 'string' || !payload.jti) throw bad('jti is missing');
    if (payload.ath !== crypto.createHash('sha256').update(token).digest('base64url')) {
      throw bad('ath is missing or does not match the access token');
    }
    if (payload.nonce !== undefined && !resourceNonces.has(payload.nonce)) {
      throw new Refusal('use_dpop_nonce', 'invalid nonce in DPoP proof');
    }
    if (payload.nonce === undefined && resourceNonceRequired) {
      throw new Refusal('use_dpop_nonce', 'nonce is required in the DPoP proof');
    }
    if (seenJtis.has(payload.jti)) throw bad('DPoP proof replayed (jti seen before)');
    seenJtis.add(payload.jti);
    return { payload, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
  }
  // Access tokens of either kind: for a user (AccessToken) or for a client alone (ClientCredentials).
  async function findResourceToken(value) {
    const token = await provider.AccessToken.find(value) || await provider.ClientCredentials.find(value);
    return token && !token.isExpired ? token : undefined;
  }
  async function resource(ctx) {
    const [scheme, token, ...rest] = (ctx.get('Authorization') || '').split(' ');
    const invalidToken = (reason) => new Refusal('invalid_token', reason);
    if (!['DPoP', 'Bearer'].includes(scheme) || !token || rest.length) {
      // No credentials: a challenge without an error code (RFC 6750 section 3.1).
      ctx.set('WWW-Authenticate', `DPoP algs="${dpopAlgs.join(' ')}"`);
      ctx.status = 401;
      return { status: 401, error: null };
    }
    let proof;
    if (scheme === 'DPoP') proof = await checkProof(ctx, ctx.get('DPoP'), token);
    const found = await findResourceToken(token);
    if (!found) throw invalidToken('the access token is invalid or expired');
    if (scheme === 'Bearer' && found.jkt) throw invalidToken('the token is DPoP-bound');
    if (scheme === 'DPoP' && !found.jkt) throw invalidToken('the token is not DPoP-bound');
    if (scheme === 'DPoP' && found.jkt !== proof.thumbprint) {
      throw invalidToken('the DPoP proof key is not the one the token is bound to');
    }
    ctx.type = 'application/json';
    ctx.body = JSON.stringify({
      sub: found.accountId ?? null,
      client_id: found.clientId,
      scheme,
      // The thumbprint of the key the token is bound to (null for a bearer token).
      jkt: found.jkt ?? null,
      method: ctx.method,
      nonce: proof?.payload.nonce ?? null,
    });
    ctx.status = 200;
    return { status: 200, error: null };
  }
  provider.use(async (ctx, next) => {
    if (ctx.path === '/test/resource' && ['GET', 'POST'].includes(ctx.method)) {
      try {
        resourceLog.push(await resource(ctx));
      } catch (err) {
        if (!(err instanceof Refusal)) throw err;
        if (err.error === 'use_dpop_nonce') {
          const nonce = crypto.randomBytes(16).toString('base64url');
          resourceNonces.add(nonce);
          ctx.set('DPoP-Nonce', nonce);
        }
        ctx.set('WWW-Authenticate', `DPoP error="${err.error}", error_description="${err.message}"`);
        ctx.status = 401;
        ctx.type = 'application/json';
        ctx.body = JSON.stringify({ error: err.error, error_description: err.message });
        resourceLog.push({ status: 401, error: err.error });
      }
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/test/resource-log') {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(resourceLog);
      return;
    }
    if (ctx.method === 'POST' && ctx.path === '/test/resource-nonce') {
      resourceNonceRequired = ctx.query.required === 'true';
      resourceNonces = new Set();
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'POST' && ctx.path === '/test/dpop-nonce') {
      tokenNonceRequired = ctx.query.required === 'true';
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/test/exchanges') {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(exchanges);
      return;
    }
    return next();
  });

  // Token requests by grant type, for tests that count them: GET /test/counts.
  const counts = {};
  // The prompt of each interaction answered (`login` without a session at the provider,
  // `consent` with one), for tests of sign-out: GET /test/prompts.
  const prompts = [];
  let forgery = 'none';
  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/test/forge-id-token') {
      forgery = ctx.query.kind || 'none';
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/test/counts') {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(counts);
      return;
    }
    if (ctx.method === 'GET' && ctx.path === '/test/prompts') {
      ctx.type = 'application/json';
      ctx.body = JSON.stringify(prompts);
      return;
    }
    if (ctx.method === 'POST' && ctx.path === '/token') {
      await next();
      const grant = (ctx.oidc && ctx.oidc.params && ctx.oidc.params.grant_type) || 'unknown';
      counts[grant] = (counts[grant] || 0) + 1;
      if (forgery !== 'none' && ctx.body && ctx.body.id_token) {
        ctx.body = { ...ctx.body, id_token: forge(ctx.body.id_token, forgery) };
      }
      return;
    }
    return next();
  });

  provider.use(async (ctx, next) => {
    if (ctx.method === 'POST' && ctx.path === '/test/interactive-consent') {
      interactiveConsent = true;
      scriptClick = ctx.query.click === 'script';
      ctx.status = 204;
      return;
    }
    return next();
  });

  provider.use(async (ctx, next) => {
    const match = ctx.path.match(/^\/interaction\/([^/]+)$/);
    if (!match || !['GET', 'POST'].includes(ctx.method)) return next();
    if (interactiveConsent && ctx.method === 'GET') {
      ctx.type = 'text/html';
      ctx.set('Cache-Control', 'no-store');
      ctx.body = `<!doctype html><title>Consent</title><h1>Allow access?</h1>
<form method="post" action="/interaction/${match[1]}"><button id="allow" type="submit">Allow</button></form>
${scriptClick ? '<script>document.getElementById("allow").click()</script>' : ''}`;
      return;
    }
    if (ctx.method === 'POST' && !interactiveConsent) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const { prompt, params, grantId } = details;
    prompts.push(prompt.name);
    let result;
    if (params.login_hint === 'deny') {
      result = { error: 'access_denied', error_description: 'the test user refused' };
    } else {
      const accountId = 'user-1';
      const grant = grantId
        ? await provider.Grant.find(grantId)
        : new provider.Grant({ accountId, clientId: params.client_id });
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
      result = { login: { accountId }, consent: { grantId: await grant.save() } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.set('Location', to);
    ctx.body = '';
  });

  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});

// The test harness owns this process: when its end of stdin closes, stop.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
