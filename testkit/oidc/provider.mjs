// A real OpenID Connect provider (panva's oidc-provider, OpenID-certified) on loopback,
// for the app's sign-in tests. It prints `listening <issuer>` once it serves.
//
// Environment:
//   OIDC_PROVIDER_MODULES  directory where `npm ci` installed this package (node_modules/)
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS (comma-separated): the one registered client
//
// Instead of a login form, the interaction signs a test account in at once, so an HTTP
// client or a headless browser can finish the flow. The account comes from `login_hint`:
//   (none)                 alice, email alice@example.org, verified
//   verified:EMAIL         an account with EMAIL, verified
//   unverified:EMAIL       an account with EMAIL, not verified
//   deny                   the person declines: the client gets error=access_denied

import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const modules = process.env.OIDC_PROVIDER_MODULES ?? new URL('.', import.meta.url).pathname;
const require = createRequire(join(modules, 'package.json'));
const { default: Provider } = await import(pathToFileURL(require.resolve('oidc-provider')).href);

function account(hint) {
  const [kind, email] = hint.includes(':') ? hint.split(/:(.*)/s) : ['verified', 'alice@example.org'];
  return { sub: `${kind}-${email}`, email, email_verified: kind === 'verified' };
}

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const accounts = new Map();

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID ?? 'flotilla',
    client_secret: process.env.CLIENT_SECRET ?? 'flotilla-secret',
    redirect_uris: (process.env.REDIRECT_URIS ?? '').split(',').filter(Boolean),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // The ID token carries the email claims itself, as Google's does.
  conformIdTokenClaims: false,
  cookies: { keys: ['flotilla-test-provider-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) return undefined;
    return { accountId: sub, claims: () => claims };
  },
});
provider.proxy = false;

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const hint = details.params.login_hint ?? '';
  let result;
  if (hint === 'deny') {
    result = { error: 'access_denied', error_description: 'the person declined' };
  } else {
    const claims = account(hint);
    accounts.set(claims.sub, claims);
    const grant = new provider.Grant({ accountId: claims.sub, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    result = { login: { accountId: claims.sub }, consent: { grantId: await grant.save() } };
  }
  const redirectTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.redirect(redirectTo);
});

server.on('request', provider.callback());
process.stdout.write(`listening ${issuer}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
