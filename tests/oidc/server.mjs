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
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import Provider from 'oidc-provider';

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
// The `client_secret_jwt` client's secret (HS256 wants at least 32 bytes).
const secretJwtSecret = 'client-secret-jwt-test-secret-0123456789';

const host = '127.0.0.1';
const accessTtl = Number(process.env.ACCESS_TOKEN_TTL || 3600);
const redirectUris = ['http://127.0.0.1/callback', 'http://127.0.0.1/oauth2callback'];
// RP-initiated logout returns here (any port: loopback URIs of native clients).
const postLogoutRedirectUris = ['http://127.0.0.1/oauth2callback/signedout'];
const deviceCode = 'urn:ietf:params:oauth:grant-type:device_code';
const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials', deviceCode];

const server = http.createServer();
let interactiveConsent = false;
let scriptClick = false;

server.listen(0, host, () => {
  const issuer = `http://${host}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [
      { client_id: 'basic-client', client_secret: 'basic-secret', token_endpoint_auth_method: 'client_secret_basic',
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: grantTypes },
      { client_id: 'post-client', client_secret: 'post-secret', token_endpoint_auth_method: 'client_secret_post',
        application_type: 'native', redirect_uris: redirectUris, post_logout_redirect_uris: postLogoutRedirectUris, grant_types: grantTypes },
      { client_id: 'jwt-client', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [clientPublicJwk] },
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
