// Token buckets per key (a source address, a device): how often one caller may do an expensive or guessable thing.
// One module for every limit, so each is a line in `rateLimits` below and the same RATE_LIMITED answer (with
// Retry-After) comes from errors.ts. In memory, per node: with several nodes behind a balancer a caller's budget is
// that many times larger, which the limits below allow for (docs/operations.md).
import { SealpostError } from '@sealpost/protocol';
import type { Clock } from '../clock.js';

export interface BucketRule {
  /** Requests allowed at once. */
  burst: number;
  /** Refill, in requests per minute. */
  perMinute: number;
}

/** Most keys a limiter remembers; beyond it the least recently refilled are forgotten (bounded memory). */
const MAX_KEYS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly name: string,
    private readonly rule: BucketRule,
    private readonly clock: Clock,
  ) {}

  /** Take `cost` tokens for `key`, or throw RATE_LIMITED saying when to try again (and take nothing). */
  take(key: string, cost = 1): void {
    this.admit(key, cost);
    this.charge(key, cost);
  }

  /** Take `cost` tokens if `key` has them; false (taking nothing) if not. */
  tryTake(key: string, cost = 1): boolean {
    if (this.rule.burst !== Infinity && this.tokens(key) < cost) return false;
    this.charge(key, cost);
    return true;
  }

  /** Throw RATE_LIMITED unless `key` has `cost` tokens; take nothing (for budgets charged only on failure). */
  admit(key: string, cost = 1): void {
    if (this.rule.burst === Infinity) return; // limits turned off (--insecure-no-rate-limits)
    const tokens = this.tokens(key);
    if (tokens >= cost) return;
    const retryAfterMs = Math.ceil((cost - tokens) / (this.rule.perMinute / 60_000));
    throw new SealpostError('RATE_LIMITED', `too many ${this.name}; try again in ${Math.ceil(retryAfterMs / 1000)} s`, { details: { retryAfterMs } });
  }

  /** Take `cost` tokens (down to zero at most), never throwing. */
  charge(key: string, cost = 1): void {
    if (this.rule.burst === Infinity) return;
    const tokens = Math.max(0, this.tokens(key) - cost);
    // Re-inserted, so the Map's order is least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: this.clock.now() });
    if (this.buckets.size > MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
  }

  private tokens(key: string): number {
    const b = this.buckets.get(key);
    if (!b) return this.rule.burst;
    // A clock set back (by hand, by NTP) refills nothing and takes nothing away: time counts again from the new now.
    const now = this.clock.now();
    if (now < b.at) b.at = now;
    return Math.min(this.rule.burst, b.tokens + (now - b.at) * (this.rule.perMinute / 60_000));
  }
}

/** The default limits. Generous for people, tight for scripts. */
export const defaultRateRules = {
  /** Unauthenticated requests of one address that cost the server work: enroll, link, auth challenge and session. */
  unauthenticated: { burst: 300, perMinute: 300 },
  /** Wrong activation codes from one address: five, then one per three minutes (a code is 60 random bits). */
  wrongActivationCodes: { burst: 5, perMinute: 1 / 3 },
  /** KeyPackages one device may claim (one per device of each user it adds to a conversation). */
  keyPackageClaims: { burst: 200, perMinute: 60 },
  /**
   * One-time KeyPackages of one device that one other device may take; beyond it the claimer gets the target's
   * last-resort KeyPackage (RFC 9420 §16.8: reusable), so no device can drain another's one-time stock.
   */
  oneTimeKeyPackagesPerTarget: { burst: 3, perMinute: 1 / 20 },
  /** Key-transparency searches and monitor requests of one device (each builds proofs: ~6 ms for a new label). */
  ktRequests: { burst: 120, perMinute: 600 },
  /** WebSocket upgrades from one address, authenticated or not. */
  wsUpgrades: { burst: 60, perMinute: 120 },
  /** SMTP connections from one address to the inbound gateway (a busy outside MTA reuses connections). */
  smtpConnections: { burst: 60, perMinute: 120 },
  /** Messages (each recipient counts) one address may hand the inbound gateway. */
  smtpRecipients: { burst: 500, perMinute: 300 },
} satisfies Record<string, BucketRule>;
export type RateRules = typeof defaultRateRules;

export type RateLimiters = { [K in keyof RateRules]: RateLimiter };

const unlimited: BucketRule = { burst: Infinity, perMinute: Infinity };

/** `'off'` only for load tests on loopback (the CLI's --insecure-no-rate-limits). */
export function createRateLimiters(clock: Clock, rules: Partial<RateRules> | 'off' = {}): RateLimiters {
  const r: RateRules =
    rules === 'off'
      ? { unauthenticated: unlimited, wrongActivationCodes: unlimited, keyPackageClaims: unlimited, oneTimeKeyPackagesPerTarget: unlimited, ktRequests: unlimited, wsUpgrades: unlimited, smtpConnections: unlimited, smtpRecipients: unlimited }
      : { ...defaultRateRules, ...rules };
  return {
    unauthenticated: new RateLimiter('requests from this address', r.unauthenticated, clock),
    wrongActivationCodes: new RateLimiter('wrong activation codes from this address', r.wrongActivationCodes, clock),
    keyPackageClaims: new RateLimiter('KeyPackage claims from this device', r.keyPackageClaims, clock),
    oneTimeKeyPackagesPerTarget: new RateLimiter('one-time KeyPackages of that device', r.oneTimeKeyPackagesPerTarget, clock),
    ktRequests: new RateLimiter('key-transparency requests from this device', r.ktRequests, clock),
    wsUpgrades: new RateLimiter('connections from this address', r.wsUpgrades, clock),
    smtpConnections: new RateLimiter('SMTP connections from this address', r.smtpConnections, clock),
    smtpRecipients: new RateLimiter('messages from this address', r.smtpRecipients, clock),
  };
}
