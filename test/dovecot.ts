// A private Dovecot for the tests: the same one bench:bridge measures against (bench/dovecot-peer.mjs).
export { dovecotUnavailable, startDovecot, type Dovecot } from '../bench/dovecot-peer.mjs';
