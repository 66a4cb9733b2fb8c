// Reports in S3-compatible object storage through the minio client, handed out as presigned URLs.
import type { Readable } from 'node:stream';
import { Client } from 'minio';
import type { ReportStorage, StoredReport } from './reportStorage';

export interface S3Settings {
  /** e.g. http://127.0.0.1:9000 */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  pathStyle: boolean;
}

/** S3's smallest part: a report streams through in parts of this size, never whole. */
const PART_SIZE = 5 * 1024 * 1024;
const CSV_HEADERS = { 'Content-Type': 'text/csv; charset=utf-8' };

export class S3ReportStorage implements ReportStorage {
  readonly kind = 's3' as const;
  private readonly client: Client;
  private bucketReady: Promise<void> | undefined;

  constructor(private readonly settings: S3Settings) {
    const url = new URL(settings.endpoint);
    const useSSL = url.protocol === 'https:';
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region,
      pathStyle: settings.pathStyle,
    });
  }

  async store(name: string, body: Readable, validForSeconds: number): Promise<StoredReport> {
    await this.ensureBucket();
    const key = `history/${name}.csv`;
    await this.upload(key, body);
    return { url: await this.client.presignedGetObject(this.settings.bucket, key, validForSeconds) };
  }

  /**
   * The size is unknown until the last row, so a report of more than one part goes up as a
   * multipart upload, one part in memory at a time (reading pauses while a part uploads); a small
   * one is a single PUT. Nothing is visible under the key until the upload completes. (minio's
   * own putObject of a stream of unknown size picks parts of hundreds of MB and first lists
   * unfinished uploads, which not every S3-compatible server implements.)
   */
  private async upload(key: string, body: Readable): Promise<void> {
    const { bucket } = this.settings;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let uploadId: string | undefined;
    const parts: Array<{ part: number; etag: string }> = [];
    const sendPart = async () => {
      uploadId ??= await this.client.initiateNewMultipartUpload(bucket, key, CSV_HEADERS);
      const payload = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      const part = parts.length + 1;
      const { etag } = await this.client.uploadPart(
        { bucketName: bucket, objectName: key, uploadID: uploadId, partNumber: part, headers: { 'Content-Length': payload.length } },
        payload,
      );
      parts.push({ part, etag });
    };
    try {
      for await (const chunk of body) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        pending.push(bytes);
        pendingBytes += bytes.length;
        if (pendingBytes >= PART_SIZE) await sendPart();
      }
      if (uploadId === undefined) {
        const payload = Buffer.concat(pending, pendingBytes);
        await this.client.putObject(bucket, key, payload, payload.length, CSV_HEADERS);
        return;
      }
      if (pendingBytes > 0) await sendPart();
      await this.client.completeMultipartUpload(bucket, key, uploadId, parts);
    } catch (error) {
      if (uploadId !== undefined) await this.client.abortMultipartUpload(bucket, key, uploadId).catch(() => undefined);
      body.destroy();
      throw error;
    }
  }

  private ensureBucket(): Promise<void> {
    this.bucketReady ??= (async () => {
      if (!(await this.client.bucketExists(this.settings.bucket))) {
        await this.client.makeBucket(this.settings.bucket, this.settings.region).catch(async (error: unknown) => {
          // Another instance may have created it meanwhile.
          if (!(await this.client.bucketExists(this.settings.bucket))) throw error;
        });
      }
    })().catch((error: unknown) => {
      this.bucketReady = undefined;
      throw error;
    });
    return this.bucketReady;
  }
}
