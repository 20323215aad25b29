// Blob routes: resumable upload of encrypted files, download by devices holding a grant, release of grants.
// The server sees sizes only; names, types, keys and content stay inside the encrypted messages.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { SealpostError, formatSize, limits, newBlobId, parseUnknown, zBlobId, type BlobId, type DeviceId, type UserId } from '@sealpost/protocol';
import type { ServerContext } from '../context.js';
import { sessionOf, withDeviceSession } from '../auth/device-session.js';
import { getPolicy } from '../admin/policy-store.js';
import { defaultBlobLimits } from '../context.js';

const zCreate = z.object({ size: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }).strict();
const zIdParams = z.object({ id: zBlobId }).strict();
const zOffset = z.object({ offset: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict();

export function registerBlobRoutes(app: FastifyInstance, ctx: ServerContext): void {
  // Upload parts arrive as a raw stream; the route reads it itself, with its own limit.
  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
  const writing = new Set<BlobId>();

  const blobOf = async (req: FastifyRequest, me: { device: DeviceId; user: UserId }) => {
    const { id } = parseUnknown(zIdParams, req.params, 'params');
    const blob = await ctx.store.getBlob(id);
    if (!blob || !(await ctx.store.hasBlobGrant(id, me.device))) throw new SealpostError('BLOB_NOT_FOUND', `no blob ${id} for this device`);
    // A crash between the rename of a finished upload and the store's update leaves a complete file behind an
    // incomplete record; the file is whole (fsynced before the rename), so the record catches up.
    if (!blob.complete && (await ctx.blobs.size(blob.id)) === blob.size) {
      await ctx.store.setBlobReceived(blob.id, blob.size, true, ctx.clock.now());
      return { ...blob, received: blob.size, complete: true };
    }
    return blob;
  };

  /** Uploads stop short of filling the volume: the database shares it and must still be able to grow. */
  const requireFreeSpace = async (incoming: number) => {
    const reserve = ctx.minFreeBytes ?? defaultBlobLimits.minFreeBytes;
    const free = await ctx.blobs.freeBytes();
    if (free - incoming < reserve) {
      throw new SealpostError('STORAGE_FULL', `the server is short of disk space (${free} bytes free, ${reserve} kept for its database); try again later`);
    }
  };

  withDeviceSession(app, ctx, (app) => {
    app.post('/v1/blobs', { bodyLimit: limits.maxJsonBodyBytes }, async (req) => {
      const me = sessionOf(req);
      const { size } = parseUnknown(zCreate, req.body, 'body');
      // The smaller of the server's own limit and the organisation's policy.
      const max = Math.min(ctx.maxBlobBytes, (await getPolicy(ctx)).maxAttachmentBytes);
      if (size > max) throw new SealpostError('BLOB_TOO_LARGE', `files are limited to ${formatSize(max)} on this server (encrypted); this one is ${formatSize(size)}`);
      await requireFreeSpace(Math.min(size, limits.maxUploadPartBytes));
      const id = newBlobId();
      const res = await ctx.store.createBlob({ id, ownerUser: me.user, ownerDevice: me.device, size, now: ctx.clock.now() }, ctx.userQuotaBytes);
      if (res === 'quota') {
        const used = await ctx.store.blobBytesOf(me.user);
        throw new SealpostError('QUOTA_EXCEEDED', `your file storage quota on the server is ${formatSize(ctx.userQuotaBytes)}: ${formatSize(used)} is in use and this file needs ${formatSize(size)}; delete files you no longer need (mail delete), or ask your admin`);
      }
      return { id, size, received: 0 };
    });

    app.get('/v1/blobs/:id/status', async (req) => {
      const me = sessionOf(req);
      const blob = await blobOf(req, me);
      return { id: blob.id, size: blob.size, received: blob.received, complete: blob.complete };
    });

    app.put('/v1/blobs/:id', async (req) => {
      const me = sessionOf(req);
      const blob = await blobOf(req, me);
      if (blob.ownerDevice !== me.device) throw new SealpostError('FORBIDDEN', 'only the uploading device may write this blob');
      const { offset } = parseUnknown(zOffset, req.query, 'query');
      if (blob.complete) throw new SealpostError('UPLOAD_OFFSET_MISMATCH', 'upload is already complete', { details: { received: blob.received } });
      if (offset !== blob.received) {
        throw new SealpostError('UPLOAD_OFFSET_MISMATCH', `upload has ${blob.received} bytes; continue at that offset, not ${offset}`);
      }
      if (writing.has(blob.id)) throw new SealpostError('UPLOAD_OFFSET_MISMATCH', 'another request is writing this upload');
      await requireFreeSpace(Math.min(limits.maxUploadPartBytes, blob.size - offset));
      writing.add(blob.id);
      try {
        const body = req.body as AsyncIterable<Uint8Array>;
        const max = Math.min(limits.maxUploadPartBytes, blob.size - offset);
        const received = await ctx.blobs.append(blob.id, offset, body, max);
        const complete = received === blob.size;
        if (complete) await ctx.blobs.finish(blob.id);
        await ctx.store.setBlobReceived(blob.id, received, complete, ctx.clock.now());
        return { id: blob.id, size: blob.size, received, complete };
      } finally {
        writing.delete(blob.id);
      }
    });

    app.get('/v1/blobs/:id', async (req, reply) => {
      const me = sessionOf(req);
      const blob = await blobOf(req, me);
      if (!blob.complete) throw new SealpostError('UPLOAD_INCOMPLETE', 'this blob is still being uploaded');
      // Serve what is on disk. If that differs from what was uploaded, the client's checks (length, chunk tags,
      // hash) refuse it; the server cannot repair ciphertext anyway.
      const stored = await ctx.blobs.size(blob.id);
      if (stored === undefined) throw new SealpostError('BLOB_NOT_FOUND', `blob ${blob.id} is missing from storage`);
      if (stored !== blob.size) req.log.error({ blob: blob.id, stored, expected: blob.size }, 'blob size on disk differs from upload');
      const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
      const start = range ? Math.min(Number(range[1]), stored) : 0;
      void reply
        .status(range ? 206 : 200)
        .header('content-type', 'application/octet-stream')
        .header('content-length', String(stored - start))
        .header('accept-ranges', 'bytes');
      if (range) void reply.header('content-range', `bytes ${start}-${Math.max(start, stored - 1)}/${stored}`);
      return reply.send(ctx.blobs.read(blob.id, start));
    });

    app.delete('/v1/blobs/:id/grant', async (req) => {
      const me = sessionOf(req);
      const blob = await blobOf(req, me);
      const gone = await ctx.store.releaseBlobGrant(blob.id, me.device);
      if (gone) await ctx.blobs.delete(blob.id);
      return { id: blob.id, deleted: gone };
    });
  });
}

/** Delete uploads abandoned before `before`. */
export async function sweepStaleUploads(ctx: ServerContext, before: number): Promise<number> {
  const ids = await ctx.store.deleteStaleUploads(before);
  for (const id of ids) await ctx.blobs.delete(id);
  return ids.length;
}
