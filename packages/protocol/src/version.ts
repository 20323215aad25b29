// The Sealpost version, in one place: the CLI's --version and the server's GET /v1/info say it. Kept equal to the
// root package.json's version (test/build/version.test.ts).
export const VERSION = '0.1.0';
