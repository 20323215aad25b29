import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.js';

describe('RateLimiter', () => {
  it('refuses past the burst, refills with time, and is not emptied by a clock set back', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter('requests from this address', { burst: 3, perMinute: 60 }, { now: () => now });
    for (let i = 0; i < 3; i++) limiter.take('a');
    expect(() => limiter.take('a')).toThrow(/too many requests from this address; try again in 1 s/);
    now += 1000; // one token back
    limiter.take('a');
    // The clock goes back an hour (set by hand, NTP): nothing refills, and nothing is taken away either.
    now -= 3_600_000;
    expect(() => limiter.take('a')).toThrow(/too many/);
    limiter.take('b');
    now += 2000;
    limiter.take('a');
  });
});
