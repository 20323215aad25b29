import { describe, expect, it } from 'vitest';
import { DEFAULT_KEY_CHANGE_CONTEST_MS } from '@sealpost/protocol';
import { nextContestPeriod } from './contest-period.js';

const H = 3_600_000;

describe('the contest period a client applies', () => {
  it('starts at what policy says, or the default when the server names none', () => {
    expect(nextContestPeriod(undefined, 2 * H, 0)).toEqual({ effective: 2 * H });
    expect(nextContestPeriod(undefined, undefined, 0)).toEqual({ effective: DEFAULT_KEY_CHANGE_CONTEST_MS });
  });

  it('takes a longer period at once', () => {
    expect(nextContestPeriod({ effective: H }, 5 * H, 10)).toEqual({ effective: 5 * H });
  });

  it('takes a shorter period only once the longer one has run out since the shorter was first seen', () => {
    let s = nextContestPeriod({ effective: 24 * H }, 1000, 0);
    expect(s.effective).toBe(24 * H); // an operator who lowers the period and swaps a key at once still waits a day
    s = nextContestPeriod(s, 1000, 23 * H);
    expect(s.effective).toBe(24 * H);
    s = nextContestPeriod(s, 1000, 24 * H);
    expect(s).toEqual({ effective: 1000 });
  });

  it('starts the wait again when the shorter value changes', () => {
    let s = nextContestPeriod({ effective: 24 * H }, 1000, 0);
    s = nextContestPeriod(s, 2000, 20 * H);
    expect(s.lower).toEqual({ value: 2000, seenAt: 20 * H });
    expect(nextContestPeriod(s, 2000, 30 * H).effective).toBe(24 * H);
    expect(nextContestPeriod(s, 2000, 44 * H).effective).toBe(2000);
  });
});
