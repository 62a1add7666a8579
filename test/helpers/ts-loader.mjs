/**
 * Lets `node` run the TypeScript sources directly, as the tests' child processes do:
 * `node --import ./test/helpers/ts-loader.mjs src/cli.ts …`. Each file is transpiled on its own
 * (the project uses isolatedModules), without type checking; `tsc` does that.
 */
import { register } from 'node:module';

register('./ts-loader-hooks.mjs', import.meta.url);
