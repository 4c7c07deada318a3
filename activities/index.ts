import type { ActivityDeps } from './deps';
import { createSystemActivities } from './system';

/** All activities of the worker, made from its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSystemActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export type { ActivityDeps };
