/* SPDX-License-Identifier: Apache-2.0 */
// Test-only OIDC provider standing in for Okta in rotatord's integration
// tests.  Usage: node server.js CONFIG.json   (see tests/integration/idp.py)
//
// Config keys: issuer, port, host, tls {cert,key}, access_token_ttl, clients,
// jwks (path to a private JWKS), log (JSON lines, one per token request),
// require_scope (default true), strict_auth_method (default true),
// scopes (extra supported scopes), default_resource (default "api://default"),
// subject_jwks (path to a public JWKS), subject_issuer, subject_audience,
// routes (oidc-provider route overrides, e.g. {"token": "/v1/token"}).
//
// Test-only control endpoints, never authenticated, under /__control/:
//   POST rotate {jwk?, retire?} -> {kid, jwk}   new ES256 key first in the JWKS
//   POST mint {sub, aud, scope, ttl, kid?, client_id?, claims?, header?} -> {access_token, kid}
//   GET  stats -> {total, paths: {"/jwks": n, ...}};  POST reset_stats
//   POST down {status?} / POST up;  GET jwks_private (the current private JWKS)
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';

import Provider, { errors } from 'oidc-provider';
import * as jose from 'jose';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TT_ACCESS = 'urn:ietf:params:oauth:token-type:access_token';
const SUBJECT_TYPES = new Set([
  'urn:ietf:params:oauth:token-type:jwt',
  TT_ACCESS,
  'urn:ietf:params:oauth:token-type:id_token',
]);

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const issuer = cfg.issuer;
const issuerPath = new URL(issuer).pathname.replace(/\/$/, '');
const ttl = cfg.access_token_ttl || 3600;
const requireScope = cfg.require_scope !== false;
const defaultResource = cfg.default_resource || 'api://default';
const readJson = (p) => JSON.parse(fs.readFileSync(p, 'utf8'));

function logLine(obj) {
  if (!cfg.log) return;
  fs.appendFileSync(cfg.log, `${JSON.stringify({ ts: Date.now() / 1000, ...obj })}\n`);
}

async function newSigningKey() {
  const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk);
  return { ...jwk, alg: 'ES256', use: 'sig' };
}

async function withKid(jwk) {
  const k = { ...jwk };
  if (!k.kid) k.kid = await jose.calculateJwkThumbprint(k);
  return k;
}

function publicJwk(jwk) {
  const { d, p, q, dp, dq, qi, ...pub } = jwk; // eslint-disable-line no-unused-vars
  return pub;
}

let signingKeys = cfg.jwks
  ? await Promise.all(readJson(cfg.jwks).keys.map(withKid))
  : [await newSigningKey()];

// Clients: oidc-provider metadata; "jwks_file" may name a public JWK/JWKS.
const clients = cfg.clients.map((c) => {
  const out = {
    grant_types: ['client_credentials', TOKEN_EXCHANGE],
    response_types: [],
    redirect_uris: [],
    ...c,
  };
  if (out.jwks_file) {
    const j = readJson(out.jwks_file);
    out.jwks = j.keys ? j : { keys: [j] };
    delete out.jwks_file;
  }
  return out;
});
const allScopes = new Set(cfg.scopes || []);
for (const c of clients) for (const s of (c.scope || '').split(' ')) if (s) allScopes.add(s);

const subjectKeys = cfg.subject_jwks ? jose.createLocalJWKSet(readJson(cfg.subject_jwks)) : null;

function checkScopes(requested, client) {
  const scopes = requested ? [...new Set(requested.split(' ').filter(Boolean))] : [];
  if (!scopes.length && requireScope) {
    throw new errors.InvalidScope(
      "The authorization server resource does not have any configured default scopes, 'scope' must be provided.",
    );
  }
  const allowed = new Set((client.scope || [...allScopes].join(' ')).split(' '));
  for (const s of scopes) {
    if (!allowed.has(s)) throw new errors.InvalidScope('requested scope is not allowed', s);
  }
  return scopes;
}

function resourceServerInfo(resource, client) {
  return {
    scope: client?.scope || [...allScopes].join(' '),
    audience: resource,
    accessTokenFormat: 'jwt',
    accessTokenTTL: ttl,
    jwt: { sign: { alg: 'ES256' } },
  };
}

async function tokenExchange(ctx, next) {
  const { params, client, provider } = ctx.oidc;
  if (!subjectKeys) throw new errors.UnsupportedGrantType('token exchange is not configured');
  checkAuthMethod(ctx);
  if (!params.subject_token) throw new errors.InvalidRequest('missing required parameter subject_token');
  if (!params.subject_token_type) throw new errors.InvalidRequest('missing required parameter subject_token_type');
  if (!SUBJECT_TYPES.has(params.subject_token_type)) {
    throw new errors.InvalidRequest('unsupported subject_token_type');
  }
  if (params.requested_token_type && params.requested_token_type !== TT_ACCESS) {
    throw new errors.InvalidRequest('unsupported requested_token_type');
  }
  let subject;
  try {
    ({ payload: subject } = await jose.jwtVerify(params.subject_token, subjectKeys, {
      issuer: cfg.subject_issuer,
      audience: cfg.subject_audience,
    }));
  } catch (err) {
    throw new errors.InvalidGrant(`subject_token is invalid: ${err.code || err.message}`);
  }
  if (!subject.sub) throw new errors.InvalidGrant('subject_token has no sub');
  const scopes = checkScopes(params.scope, client);
  const aud = params.audience || params.resource || defaultResource;
  const rs = new provider.ResourceServer(aud, resourceServerInfo(aud, client));
  const token = new provider.AccessToken({
    accountId: subject.sub,
    client,
    scope: scopes.join(' ') || undefined,
    gty: TOKEN_EXCHANGE,
  });
  token.resourceServer = rs;
  ctx.oidc.entity('AccessToken', token);
  const value = await token.save();
  ctx.body = {
    access_token: value,
    issued_token_type: TT_ACCESS,
    token_type: 'Bearer',
    expires_in: token.expiration,
    scope: token.scope || undefined,
  };
  await next();
}

function detectAuthMethod(ctx, params) {
  if (ctx.headers.authorization?.toLowerCase().startsWith('basic ')) return 'client_secret_basic';
  if (params?.client_assertion) {
    try {
      const h = jose.decodeProtectedHeader(params.client_assertion);
      return h.alg?.startsWith('HS') ? 'client_secret_jwt' : 'private_key_jwt';
    } catch { return 'private_key_jwt'; }
  }
  if (params?.client_secret) return 'client_secret_post';
  return 'none';
}

// oidc-provider lets client_secret_basic and client_secret_post stand in for
// each other; Okta does not, and the tests need to know which one was used.
function checkAuthMethod(ctx) {
  const used = detectAuthMethod(ctx, ctx.oidc.params);
  const registered = ctx.oidc.client.tokenEndpointAuthMethod;
  if (cfg.strict_auth_method !== false && used !== registered) {
    throw new errors.InvalidClientAuth(`${used} used, ${registered} registered`);
  }
}

function basicClientId(ctx) {
  const h = ctx.headers.authorization || '';
  if (!h.toLowerCase().startsWith('basic ')) return undefined;
  const dec = Buffer.from(h.slice(6).trim(), 'base64').toString();
  const i = dec.indexOf(':');
  try { return decodeURIComponent((i < 0 ? dec : dec.slice(0, i)).replace(/\+/g, ' ')); } catch { return undefined; }
}

function buildProvider() {
  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: signingKeys },
    scopes: [...allScopes],
    routes: cfg.routes || {},
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    clientDefaults: {
      grant_types: ['client_credentials'],
      id_token_signed_response_alg: 'ES256',
      response_types: [],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => defaultResource,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resource, client) {
          if (ctx.oidc.params?.grant_type === 'client_credentials') {
            checkAuthMethod(ctx);
            checkScopes(ctx.oidc.params.scope, client);
          }
          return resourceServerInfo(resource, client);
        },
      },
    },
    ttl: {
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || ttl,
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || ttl,
    },
  });
  provider.proxy = false;
  provider.registerGrantType(TOKEN_EXCHANGE, tokenExchange, [
    'subject_token', 'subject_token_type', 'audience', 'scope', 'resource',
    'requested_token_type', 'actor_token', 'actor_token_type',
  ]);
  provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
  provider.on('grant.error', (ctx, err) => { ctx.state.idpErrorDetail = err.error_detail; });
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'token') return;
    const params = ctx.oidc.params || ctx.oidc.body || {};
    const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
    const entry = {
      grant_type: params.grant_type,
      client_id: ctx.oidc.client?.clientId || params.client_id || basicClientId(ctx),
      auth_method: detectAuthMethod(ctx, params),
      registered_auth_method: ctx.oidc.client?.tokenEndpointAuthMethod,
      scope: params.scope,
      resource: params.resource,
      audience: params.audience,
      status: ctx.status,
      ok: !!body.access_token,
    };
    if (body.access_token) {
      entry.granted_scope = body.scope;
      try { entry.kid = jose.decodeProtectedHeader(body.access_token).kid; } catch { /* opaque */ }
    } else {
      entry.error = body.error;
      entry.error_description = body.error_description;
      entry.error_detail = ctx.state.idpErrorDetail;
    }
    logLine(entry);
  });
  return provider;
}

let current = buildProvider();
let currentCb = current.callback();
let down = null;
let stats = { total: 0, paths: {} };

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const s = Buffer.concat(chunks).toString();
  return s ? JSON.parse(s) : {};
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function mint(b) {
  const now = Math.floor(Date.now() / 1000);
  const key = (b.kid && signingKeys.find((k) => k.kid === b.kid)) || signingKeys[0];
  const ttlS = b.ttl ?? ttl;
  const payload = {
    iss: issuer,
    sub: b.sub || 'test-subject',
    aud: b.aud || defaultResource,
    iat: now,
    exp: now + ttlS,
    jti: crypto.randomUUID(),
    client_id: b.client_id || 'minted',
    ...(b.scope ? { scope: b.scope } : {}),
    ...(b.claims || {}),
  };
  const header = { alg: 'ES256', typ: 'at+jwt', kid: b.kid || key.kid, ...(b.header || {}) };
  const jwt = await new jose.SignJWT(payload)
    .setProtectedHeader(header)
    .sign(await jose.importJWK(key, 'ES256'));
  return { access_token: jwt, kid: header.kid, expires_in: ttlS };
}

async function control(req, res, path) {
  const b = req.method === 'POST' ? await readBody(req) : {};
  switch (`${req.method} ${path}`) {
    case 'POST rotate': {
      const key = b.jwk ? await withKid({ alg: 'ES256', use: 'sig', ...b.jwk }) : await newSigningKey();
      signingKeys = b.retire ? [key] : [key, ...signingKeys.filter((k) => k.kid !== key.kid)];
      current = buildProvider();
      currentCb = current.callback();
      return send(res, 200, { kid: key.kid, jwk: publicJwk(key) });
    }
    case 'POST mint': return send(res, 200, await mint(b));
    case 'GET stats': return send(res, 200, stats);
    case 'POST reset_stats': stats = { total: 0, paths: {} }; return send(res, 200, stats);
    case 'POST down': down = b.status || 503; return send(res, 200, { down });
    case 'POST up': down = null; return send(res, 200, { down });
    case 'GET jwks_private': return send(res, 200, { keys: signingKeys });
    default: return send(res, 404, { error: 'unknown control endpoint' });
  }
}

function handler(req, res) {
  const { pathname } = new URL(req.url, 'http://x');
  if (pathname.startsWith('/__control/')) {
    control(req, res, pathname.slice('/__control/'.length))
      .catch((err) => send(res, 500, { error: String(err.stack || err) }));
    return;
  }
  stats.total += 1;
  stats.paths[pathname] = (stats.paths[pathname] || 0) + 1;
  if (down) {
    req.resume();
    send(res, down, { error: 'temporarily_unavailable', error_description: 'test IdP is down' });
    return;
  }
  if (issuerPath) {
    if (!pathname.startsWith(`${issuerPath}/`) && pathname !== issuerPath) {
      send(res, 404, { error: 'not_found' });
      return;
    }
    req.originalUrl = req.url;
    req.url = req.url.slice(issuerPath.length) || '/';
  }
  currentCb(req, res);
}

const server = cfg.tls
  ? https.createServer({ cert: fs.readFileSync(cfg.tls.cert), key: fs.readFileSync(cfg.tls.key) }, handler)
  : http.createServer(handler);
server.keepAliveTimeout = 5000;
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
server.listen(cfg.port, cfg.host || '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
