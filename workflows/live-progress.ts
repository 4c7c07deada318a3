import { condition } from '@temporalio/workflow';

/** The first wait of refreshWhile and its ceiling: each wait doubles, so a job of H hours refreshes about 60·H + 4 times. */
export const LIVE_REFRESH_FIRST_MS = 5_000;
export const LIVE_REFRESH_MAX_MS = 60_000;

/**
 * Calls `refresh` while `busy()` holds, first after 5 s and then every 10, 20, 40 and 60 s: the current details of a
 * parent workflow whose own events (a child's result, a range's end) come minutes apart still show the rate as the
 * database has it. While `held()` (a paused import) it waits without refreshing, so a pause of days adds no events.
 * A failed refresh is skipped (the details only lag), and a cancellation ends the loop: it never fails the workflow.
 */
export async function refreshWhile(busy: () => boolean, refresh: () => Promise<void>, held: () => boolean = () => false): Promise<void> {
  let wait = LIVE_REFRESH_FIRST_MS;
  try {
    while (busy()) {
      if (await condition(() => !busy(), wait)) return;
      if (held()) {
        await condition(() => !busy() || !held());
        continue;
      }
      await refresh().catch(() => undefined);
      wait = Math.min(wait * 2, LIVE_REFRESH_MAX_MS);
    }
  } catch {
    // Cancelled with the workflow: the main flow handles the cancellation.
  }
}
