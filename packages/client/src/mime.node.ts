// Building MIME for outside mail in Node: nodemailer's MailComposer (a well-kept RFC 5322/2045 composer) for the
// message, and the RFC 3156 §4 multipart/encrypted envelope around an armored OpenPGP message.
import { randomBytes } from 'node:crypto';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { MimeComposer, MimeHeaders } from './platform.js';

function common(m: MimeHeaders) {
  return {
    from: m.from,
    to: m.to,
    ...(m.cc.length > 0 ? { cc: m.cc } : {}),
    subject: m.subject,
    messageId: m.messageId,
    date: m.date,
    ...(m.inReplyTo ? { inReplyTo: m.inReplyTo } : {}),
    ...(m.references ? { references: m.references } : {}),
    headers: { Autocrypt: m.autocrypt },
  };
}

const build = (options: ConstructorParameters<typeof MailComposer>[0]): Promise<Uint8Array> =>
  new Promise((resolve, reject) => {
    new MailComposer(options).compile().build((err, message) => (err ? reject(err) : resolve(new Uint8Array(message))));
  });

export const nodeMimeComposer: MimeComposer = {
  compose: (m) => build({ ...common(m), text: m.text, ...(m.html ? { html: m.html } : {}) }),
  async composeEncrypted(m) {
    const boundary = `sealpost-pgp-${randomBytes(12).toString('hex')}`;
    // The outer headers stay readable for delivery; the subject is replaced (the real one is inside, encrypted).
    const head = await build({ ...common(m), subject: '...', text: '' });
    const text = Buffer.from(head).toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    const headers = text
      .slice(0, end)
      .split(/\r\n(?![ \t])/)
      .filter((l) => !/^(content-type|content-transfer-encoding|mime-version):/i.test(l));
    const out = [
      ...headers,
      'MIME-Version: 1.0',
      `Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="${boundary}"`,
      '',
      'This is an OpenPGP/MIME encrypted message (RFC 3156).',
      `--${boundary}`,
      'Content-Type: application/pgp-encrypted',
      'Content-Description: PGP/MIME version identification',
      '',
      'Version: 1',
      '',
      `--${boundary}`,
      'Content-Type: application/octet-stream; name="encrypted.asc"',
      'Content-Description: OpenPGP encrypted message',
      'Content-Disposition: inline; filename="encrypted.asc"',
      '',
      m.armored.replace(/\r?\n/g, '\r\n').trimEnd(),
      '',
      `--${boundary}--`,
      '',
    ];
    return new Uint8Array(Buffer.from(out.join('\r\n'), 'utf8'));
  },
};
