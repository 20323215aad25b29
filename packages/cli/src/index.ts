// @sealpost/cli: the `sealpost` command.
export { main, buildProgram } from './main.js';
