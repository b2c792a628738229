// The trust's identity provider, for the sign-in tests: oidc-provider (OpenID Certified)
// on 127.0.0.1. Its development login page signs in any account named in ACCOUNTS; PKCE
// is required of every client, as NHSmail and Entra ID can be told to require it.
//
// Environment: PORT, CLIENTS (JSON list of client metadata), ACCOUNTS (JSON object of
// login -> claims), and TLS_CERT and TLS_KEY (PEM files) to serve https as a real
// provider does. Prints "listening <issuer>" once it accepts connections.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const tls = process.env.TLS_CERT
  ? { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }
  : null;
const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS);

const provider = new Provider(issuer, {
  clients: JSON.parse(process.env.CLIENTS),
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'roles'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    roles: ['roles'],
  },
  async findAccount(ctx, id) {
    if (!(id in accounts)) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...accounts[id] }) };
  },
  // A first-party service: no consent screen, as a trust's own provider is set up.
  async loadExistingGrant(ctx) {
    const { Grant } = ctx.oidc.provider;
    const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) return Grant.find(existing);
    const grant = new Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile roles');
    await grant.save();
    return grant;
  },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['test-provider-cookie-key'] },
});

const started = () => console.log(`listening ${issuer}`);
if (tls) {
  provider.proxy = false;
  https.createServer(tls, provider.callback()).listen(port, '127.0.0.1', started);
} else {
  provider.listen(port, '127.0.0.1', started);
}
