// Time, as a port: the system clock in production, a fixed or stepped one in tests.
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
