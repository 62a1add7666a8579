/** `user-sync sweep`: one consistency sweep now. */

/** The consistency sweep is not built yet: says so, as an error, so that scripts do not take it for a clean run. */
export function runSweep(): never {
  throw new Error(
    'the consistency sweep is not built yet: nothing was checked (consistencyCheck and autoRepair have no effect in this version)',
  );
}
