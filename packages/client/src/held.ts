// Releasing held messages: sent when a contested key is accepted, discarded with a note when it is refused.
import { SealpostError } from '@sealpost/protocol';
import { KeyChangePending } from './trust.js';
import type { HeldRequest } from './types.js';
import { ClientCore, ClientPart, transientCodes } from './core/client-core.js';
import type { Membership } from './membership.js';
import type { MailSender } from './mail-sending.js';
import type { Sender } from './sending.js';

/**
 * Messages held while a recipient's new account key is in its contest period (trust.ts): sent once every recipient's
 * key is accepted (the period ran out unobjected, or the user compared the new safety number), discarded with a note
 * when the owner's devices object.
 */
export class HeldRelease extends ClientPart {
  constructor(
    core: ClientCore,
    private readonly membership: Membership,
    private readonly sender: Sender,
    private readonly mail: MailSender,
  ) {
    super(core);
  }

  /** Send the held messages whose recipients' keys are now accepted; discard, with a note, those refused. */
  releaseHeld(): Promise<{ sent: number; discarded: number; held: number }> {
    return this.serial(() => this.releaseHeldInner());
  }

  async releaseHeldInner(): Promise<{ sent: number; discarded: number; held: number }> {
    let sent = 0;
    let discarded = 0;
    let held = 0;
    for (const h of this.store.listHeldSends()) {
      const request = JSON.parse(h.request) as HeldRequest;
      let refused: string | undefined;
      let pending = false;
      for (const u of h.users) {
        try {
          await this.trust.deviceList(u, true);
        } catch (err) {
          if (err instanceof KeyChangePending) pending = true;
          else if (err instanceof SealpostError && err.code === 'ACCOUNT_KEY_CHANGED') refused = err.message;
          else throw err; // not an answer (the network): try again later
        }
      }
      if (refused !== undefined) {
        this.store.discardHeldSend(h.id, refused, Date.now());
        this.warn(`discarded held ${request.kind} message ${h.id}: ${refused}`);
        discarded++;
      } else if (pending) {
        held++;
      } else {
        // Sent first, then forgotten: a crash in between sends it again under the same id (shown once).
        try {
          if (request.kind === 'chat') {
            for (const f of request.files) await this.files.checkReadable(f);
            const conversation = this.store.getConversation(request.conversation)?.id ?? (await this.membership.createConversation('chat', request.users, request.conversation));
            await this.sender.sendChat(conversation, request.id, request.sentAt, request.text, request.files);
          } else {
            await this.mail.composeAndSend(request.mail, undefined, undefined, request);
          }
        } catch (err) {
          if (!(err instanceof SealpostError) || transientCodes.has(err.code)) throw err;
          if (err.code === 'KEY_CHANGE_PENDING') {
            held++;
            continue;
          }
          // It can never go out as it was written (a file gone, a recipient removed): say so instead of retrying forever.
          this.store.discardHeldSend(h.id, `could not be sent: ${err.message}`, Date.now());
          this.warn(`discarded held ${request.kind} message ${h.id}: ${err.message}`);
          discarded++;
          continue;
        }
        this.store.deleteHeldSend(h.id);
        this.warn(`sent held ${request.kind} message ${h.id}: the recipients' new account keys are now accepted`);
        sent++;
      }
    }
    return { sent, discarded, held };
  }
}
