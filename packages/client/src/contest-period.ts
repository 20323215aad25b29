// The contest period a client applies to a contact's new account key. Policy sets it, but policy is the operator's
// to change: a server that lowered it a moment before swapping a key would get the swap through at once. So a
// client takes a longer period at once and a shorter one only after the longer one it knew has run out since it
// first saw the shorter value — an operator who lowers the period still waits the old one.
import { DEFAULT_KEY_CHANGE_CONTEST_MS } from '@sealpost/protocol';

export interface ContestPeriodState {
  /** The period in force on this device (ms). */
  effective: number;
  /** A shorter period the policy names, and when this device first saw it. */
  lower?: { value: number; seenAt: number };
}

/** The state after seeing `policyMs` (undefined: a server that names none, which means the default) at `now`. */
export function nextContestPeriod(state: ContestPeriodState | undefined, policyMs: number | undefined, now: number): ContestPeriodState {
  const wanted = policyMs ?? DEFAULT_KEY_CHANGE_CONTEST_MS;
  if (!state || wanted >= state.effective) return { effective: wanted };
  const lower = state.lower?.value === wanted ? state.lower : { value: wanted, seenAt: now };
  if (now - lower.seenAt >= state.effective) return { effective: wanted };
  return { effective: state.effective, lower };
}
