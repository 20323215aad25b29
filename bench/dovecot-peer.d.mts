// Types of dovecot-peer.mjs, for the tests that use it.
export function dovecotUnavailable(): string | undefined;
export interface Dovecot {
  port: number;
  user: string;
  password: string;
  stop(): Promise<void>;
}
export function startDovecot(): Promise<Dovecot>;
