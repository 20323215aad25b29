// oidc-provider (tests only) ships no types; the tests use a few calls of it (test/e2e/sso.test.ts).
declare module 'oidc-provider';
