// A throwaway OpenID provider (npm oidc-provider) for tests/realm_openid.rs.
//
// Listens on 127.0.0.1:$OIDC_PORT (0 = a free port) and prints one line `ready <port>` once it
// accepts connections. Each start signs with a fresh RSA key (a new `kid`), so a restart on the
// same port is a key rotation. Dev interactions: any password logs a known account in, and
// consent is a real step. Accounts:
//   alice  groups [admins, devs]    bob  groups [devs]    carol  groups [bad/name, devs]
//   mallory: the token endpoint's ID token is tampered with (payload changed, signature kept)
//   late:    authorization codes live 1 s (expired-code test)    dora: groups [devs]
import http from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

const REDIRECT = process.env.OIDC_REDIRECT || 'https://aclgate.test:8006';
const ACCOUNTS = {
  alice: { groups: ['admins', 'devs'], given_name: 'Alice', family_name: 'Liddell' },
  bob: { groups: ['devs'] },
  carol: { groups: ['bad/name', 'devs'] },
  mallory: { groups: [] },
  late: { groups: [] },
  dora: { groups: ['devs'] },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };

const server = http.createServer();
server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', () => {
  const port = server.address().port;
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: 'aclgate', client_secret: 'aclgate-secret', redirect_uris: [REDIRECT],
      grant_types: ['authorization_code'], response_types: ['code'],
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: ['test-only-cookie-key'] },
    claims: {
      openid: ['sub'], email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'], groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    pkce: { required: () => true },
    ttl: { AuthorizationCode: (ctx, code) => (code.accountId === 'late' ? 1 : 60) },
    async findAccount(ctx, id) {
      const a = ACCOUNTS[id];
      if (!a) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id, preferred_username: id, name: id, email: `${id}@example.com`,
            email_verified: true, groups: a.groups, given_name: a.given_name, family_name: a.family_name,
          };
        },
      };
    },
    features: { devInteractions: { enabled: true } },
  });
  provider.proxy = false;
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path !== '/token' || !ctx.body || typeof ctx.body.id_token !== 'string') return;
    const [head, payload, sig] = ctx.body.id_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    if (claims.sub === 'mallory') {
      claims.sub = 'alice';
      const forged = Buffer.from(JSON.stringify(claims)).toString('base64url');
      ctx.body = { ...ctx.body, id_token: `${head}.${forged}.${sig}` };
    }
  });
  server.on('request', provider.callback());
  console.log(`ready ${port}`);
});
